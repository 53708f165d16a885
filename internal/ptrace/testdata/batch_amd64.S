	.intel_syntax noprefix
	.text
	.globl batch
# In:  r12 = first entry, r13 = number of entries, r14 = status block.
# Entry (64 bytes): [0] nr (low 32 bits) | flags (high 32 bits), [8..48] six
# arguments, [56] result, written back.
# Flags: bit 32 = go on after an error; bit 33 = a result of 0 means this is
# a new child of a clone: trap (int3) instead of going on.
# Status: [0] entries run, [8] pending signals (rt_sigpending, all blocked).
batch:
	xor ebx, ebx
1:
	cmp rbx, r13
	jae 3f
	mov r15, [r12]
	mov eax, r15d
	mov rdi, [r12+8]
	mov rsi, [r12+16]
	mov rdx, [r12+24]
	mov r10, [r12+32]
	mov r8, [r12+40]
	mov r9, [r12+48]
	syscall
	test rax, rax
	jnz 2f
	bt r15, 33
	jc 4f
2:
	mov [r12+56], rax
	inc rbx
	add r12, 64
	cmp rax, -4095
	jb 1b
	bt r15, 32
	jc 1b
3:
	mov [r14], rbx
	lea rdi, [r14+8]
	mov esi, 8
	mov eax, 127
	syscall
	mov eax, 39
	syscall
	mov r12, rax
	mov eax, 186
	syscall
	mov rsi, rax
	mov rdi, r12
	mov edx, 19
	mov eax, 234
	syscall
4:
	int3
	jmp 4b
