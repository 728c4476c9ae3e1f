/*
 * The soak's look at glibc's allocator inside a proxy (SOAK_MALLOC_TRIM=1,
 * bench/soak.ts): preloaded (LD_PRELOAD) into the process, a thread waits for
 * a request file, $MALLOC_TRIM_DIR/<pid>.trim; when it appears, it writes
 * malloc_info(3) to <pid>.malloc-info.xml (the free bytes each arena holds),
 * calls malloc_trim(0) (the free pages of every arena go back to the kernel)
 * and removes the request. What RSS loses then was memory the allocator kept
 * after the process had freed it; what stays is live.
 *
 *   cc -shared -fPIC -O2 -o malloc-trim.so bench/malloc-trim.c -lpthread
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char request[4096];
static char info[4096];

static void *watch(void *unused) {
  (void)unused;
  for (;;) {
    if (access(request, F_OK) == 0) {
      FILE *out = fopen(info, "w");
      if (out != NULL) {
        malloc_info(0, out);
        fclose(out);
      }
      malloc_trim(0);
      unlink(request);
    }
    usleep(100 * 1000);
  }
  return NULL;
}

__attribute__((constructor)) static void start(void) {
  const char *dir = getenv("MALLOC_TRIM_DIR");
  if (dir == NULL || strlen(dir) > 4000) return;
  snprintf(request, sizeof request, "%s/%d.trim", dir, (int)getpid());
  snprintf(info, sizeof info, "%s/%d.malloc-info.xml", dir, (int)getpid());
  pthread_t thread;
  if (pthread_create(&thread, NULL, watch, NULL) == 0) pthread_detach(thread);
}
