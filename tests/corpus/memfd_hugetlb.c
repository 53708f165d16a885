// corpus: a memfd on hugetlbfs (MFD_HUGETLB)
// expect: refuse hugetlb
#include "corpus.h"
#include <sys/mman.h>

int main(void) {
	int fd = memfd_create("corpus-huge", MFD_HUGETLB);
	if (fd < 0) {
		/* No hugetlbfs: nothing to refuse; the checkpoint would not be either. */
		printf("FAIL: memfd_create(MFD_HUGETLB): %s\n", strerror(errno));
		return 1;
	}
	running("memfd_hugetlb");
	work(NULL);
	return finish();
}
