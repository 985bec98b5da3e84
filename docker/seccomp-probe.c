/*
 * seccomp-probe: what a seccomp profile lets through, as seen from inside a
 * container. test.sh compiles it statically and bind-mounts it into the
 * shardgate image (which has no shell). Each line is "name result", result
 * being "ok" or the errno name. Arguments are chosen so that the kernel itself
 * fails with something other than EPERM (EFAULT, EBADF, ESRCH, EINVAL): EPERM
 * then means seccomp said no, not a missing capability.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif

static void report(const char *name, long rc) {
    printf("%s %s\n", name, rc < 0 ? strerrorname_np(errno) : "ok");
}

/* A clone that succeeds is a fork: the child leaves at once. */
static long clone_flags(unsigned long flags) {
    long rc = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (rc == 0) _exit(0);
    if (rc > 0) waitpid((pid_t)rc, NULL, 0);
    return rc;
}

static void *thread_main(void *arg) { return arg; }

/* Other ABIs, run in a child in case the profile's bad-architecture action
 * kills the caller: i386 through int 0x80 (getpid is 20 there), and x32
 * (getpid | __X32_SYSCALL_BIT). */
static long i386_getpid(void) {
    long rc;
    __asm__ volatile("int $0x80" : "=a"(rc) : "a"(20L) : "memory");
    if (rc < 0) {
        errno = (int)-rc;
        return -1;
    }
    return rc;
}

static long x32_getpid(void) { return syscall(39 | 0x40000000); }

static void in_child(const char *name, long (*probe)(void)) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        report(name, probe());
        fflush(stdout);
        _exit(0);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    if (WIFSIGNALED(st)) printf("%s killed-by-signal-%d\n", name, WTERMSIG(st));
}

int main(void) {
    /* Must be allowed: shardgate's event loop and what it relies on. */
    report("io_uring_setup", syscall(SYS_io_uring_setup, 0, NULL)); /* EINVAL/EFAULT when allowed */
    report("io_uring_enter", syscall(SYS_io_uring_enter, -1, 0, 0, 0, NULL, 0)); /* EBADF */
    report("io_uring_register", syscall(SYS_io_uring_register, -1, 0, NULL, 0)); /* EBADF */
    pthread_t t;
    int prc = pthread_create(&t, NULL, thread_main, NULL);
    if (prc == 0) pthread_join(t, NULL);
    else errno = prc;
    report("pthread_create", prc == 0 ? 0 : -1);
    report("fork", clone_flags(0));
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    struct sock_filter code[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    struct sock_fprog prog = {.len = 1, .filter = code};
    report("setsockopt_reuseport_cbpf", setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog));
    close(fd);

    /* Must be denied. */
    report("clone3", syscall(SYS_clone3, NULL, 0)); /* EINVAL/EFAULT when allowed */
    report("clone_newuser", clone_flags(CLONE_NEWUSER));
    report("setns", syscall(SYS_setns, -1, 0)); /* EBADF */
    report("ptrace", syscall(SYS_ptrace, 2 /* PTRACE_PEEKDATA */, 0x7fffffff, 0, 0)); /* ESRCH */
    report("process_vm_readv", syscall(SYS_process_vm_readv, 0x7fffffff, NULL, 0, NULL, 0, 0)); /* ESRCH */
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0)); /* EFAULT */
    report("keyctl", syscall(SYS_keyctl, -1, 0, 0, 0, 0)); /* EOPNOTSUPP */
    report("userfaultfd", syscall(SYS_userfaultfd, -1)); /* EINVAL */
    report("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, NULL)); /* EFAULT */
    report("personality_query", syscall(SYS_personality, 0xffffffffUL));
    in_child("i386_getpid", i386_getpid);
    in_child("x32_getpid", x32_getpid); /* ENOSYS when the kernel has no x32 ABI */
    report("socket_vsock", socket(40 /* AF_VSOCK */, SOCK_STREAM, 0)); /* EAFNOSUPPORT without vsock */
    /* Last: when allowed, it moves this process into a new user namespace. */
    report("unshare_newuser", syscall(SYS_unshare, CLONE_NEWUSER));
    return 0;
}
