#include <string.h>
#include "proj.h"

/* CRC-32 (IEEE 802.3, reflected), bit by bit. */
uint32_t crc32_of(const char *s) {
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < strlen(s); i++) {
		c ^= (unsigned char)s[i];
		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & -(c & 1));
	}
	return ~c;
}
