// rewrite: 1 GiB of random (incompressible) private memory; on SIGUSR2
// it rewrites 5 % of its pages (one word each): a contiguous slice, or with
// an argument one page in 20 spread over all of it. For bench/incremental.sh.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>
#include <signal.h>
#include <sys/mman.h>
static volatile int go;
static void h(int s){go=1;}
int main(int argc,char**argv){
  size_t n=1ul<<30; int scattered=argc>1;
  uint64_t *m=mmap(0,n,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  uint64_t x=88172645463325252ull;
  for(size_t i=0;i<n/8;i++){x^=x<<13;x^=x>>7;x^=x<<17;m[i]=x;}
  signal(SIGUSR2,h);
  fprintf(stderr,"big: ready\n");
  while(!go) pause();
  size_t pages=n/4096, k=pages/20;
  for(size_t j=0;j<k;j++){ size_t p = scattered ? (j*20+7)%pages : j+pages/3; m[p*512]^=1; m[p*512+100]^=x++; }
  fprintf(stderr,"big: rewritten %zu pages\n",k);
  for(;;) pause();
}
