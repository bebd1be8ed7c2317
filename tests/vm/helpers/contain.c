/* Load for the cgroup scenarios (tests/vm/run.py), static so it runs in the
   busybox initramfs.
   contain hog MB    touch MB mebibytes, one at a time, saying how far it got
   contain bomb N    fork N children that wait; report how many forks the
                     kernel refused (EAGAIN: pids.max), then wait */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  int n = atoi(argv[2]);
  if (!strcmp(argv[1], "hog")) {
    for (int i = 1; i <= n; i++) {
      char* p = malloc(1 << 20);
      if (!p) return 3;
      memset(p, i, 1 << 20);
      if (i % 8 == 0) printf("touched %d MiB\n", i), fflush(stdout);
    }
    printf("hog survived\n");
    return 0;
  }
  if (!strcmp(argv[1], "bomb")) {
    int ok = 0, refused = 0, other = 0;
    for (int i = 0; i < n; i++) {
      pid_t p = fork();
      if (p == 0) {
        pause();
        _exit(0);
      }
      if (p > 0) ok++;
      else if (errno == EAGAIN) refused++;
      else other++;
    }
    printf("forked %d, refused %d, other errors %d\n", ok, refused, other);
    fflush(stdout);
    for (;;) pause();
  }
  return 2;
}
