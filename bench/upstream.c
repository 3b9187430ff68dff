// Benchmark upstream for bench/run.sh: a stand-in for the OpenClaw gateway that costs the
// proxies under test as little CPU as possible. One thread, epoll, HTTP/1.1 keep-alive,
// 127.0.0.1 only. Built with `cc -O2` and started by bench/loopback.sh, for bench/run.sh,
// bench/instructions.sh and scripts/pgo-train.sh (the Release build's training); it is not part
// of the CMake build.
//
//   upstream [-p PORT] [-d DELAY_MS] [-i SSE_INTERVAL_MS]
//
// Prints "PORT <n>" on stdout once listening (PORT 0 picks a free port).
//   GET  /readyz, /health        200 {"ok":true} at once (clawgate's upstream probe)
//   POST /v1/chat/completions    a fixed chat.completion JSON after DELAY_MS; with "stream":true
//                                in the body, an SSE stream that never ends: one chunk at once,
//                                then one every SSE_INTERVAL_MS until the peer closes
//   POST /tools/invoke           a fixed sessions_list result after DELAY_MS
//   anything else                404
// Request bodies are framed by Content-Length only (wrk, nginx and clawgate all send one); a
// chunked request gets 501 and the connection is closed.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { kRead = 0, kWaiting, kStreaming };
enum { kChat = 0, kTools, kStreamHead, kNotFound, kReady, kNotImpl };

typedef struct {
  char* in;
  size_t in_len, in_cap;
  char* out;
  size_t out_len, out_off, out_cap;
  unsigned gen;
  int state;
  int open;
  int close_after;
  int want_out;
} Conn;

typedef struct {
  int fd;
  unsigned gen;
  int kind;
  int close_after;
  int64_t due_ns;
} Pending;

static const char kChatBody[] =
    "{\"id\":\"chatcmpl-bench-0001\",\"object\":\"chat.completion\",\"created\":1763700000,"
    "\"model\":\"openclaw\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Our expense policy in short: employees pay for approved business costs and "
    "claim them back within 30 days. Travel is booked through the company portal; economy class "
    "for flights under six hours, and hotels up to the city rate listed on the intranet. Meals "
    "while travelling are covered up to the daily allowance, alcohol is not. Every claim needs "
    "an itemised receipt, a short business reason and the project code. Claims above 500 EUR "
    "need a manager's sign-off before payment. Mileage is paid at the published rate per "
    "kilometre. Late claims, missing receipts and personal items are returned to the employee "
    "for correction.\"},\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":{"
    "\"prompt_tokens\":412,\"completion_tokens\":131,\"total_tokens\":543}}";

static const char kToolsBody[] =
    "{\"ok\":true,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"2 sessions\"}],"
    "\"details\":{\"count\":2,\"limitApplied\":5,\"sessions\":["
    "{\"key\":\"agent:main:main\",\"kind\":\"direct\",\"updatedAt\":1763699000000,"
    "\"model\":\"openclaw\",\"totalTokens\":5230},"
    "{\"key\":\"agent:main:bench\",\"kind\":\"direct\",\"updatedAt\":1763698000000,"
    "\"model\":\"openclaw\",\"totalTokens\":812}]}}}";

static const char kReadyBody[] = "{\"ok\":true}";
static const char kNotFoundBody[] =
    "{\"error\":{\"message\":\"not found\",\"type\":\"not_found\"}}";

static const char kStreamHeadText[] =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "Transfer-Encoding: chunked\r\n\r\n";
static const char kStreamEvent[] =
    "data: {\"id\":\"chatcmpl-bench-0001\",\"object\":\"chat.completion.chunk\","
    "\"created\":1763700000,\"model\":\"openclaw\",\"choices\":[{\"index\":0,\"delta\":"
    "{\"content\":\"still thinking \"},\"finish_reason\":null}]}\n\n";

static char g_resp[6][2048];
static size_t g_resp_len[6];
static char g_event_chunk[512];
static size_t g_event_chunk_len;

static Conn* g_conns;
static int g_max_fd;
static int g_ep;
static Pending* g_queue;  // FIFO ring: every response waits the same delay, so due times ascend
static size_t g_q_head, g_q_len, g_q_cap;
static volatile sig_atomic_t g_stop;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static void die(const char* what) {
  perror(what);
  exit(1);
}

static void build_responses(void) {
  const char* bodies[6] = {kChatBody, kToolsBody, NULL, kNotFoundBody, kReadyBody, kNotFoundBody};
  const char* status[6] = {"200 OK",        "200 OK", NULL,
                           "404 Not Found", "200 OK", "501 Not Implemented"};
  for (int k = 0; k < 6; ++k) {
    if (k == kStreamHead) {
      g_resp_len[k] = (size_t)snprintf(g_resp[k], sizeof g_resp[k], "%s", kStreamHeadText);
      continue;
    }
    g_resp_len[k] = (size_t)snprintf(g_resp[k], sizeof g_resp[k],
                                     "HTTP/1.1 %s\r\nContent-Type: application/json\r\n"
                                     "Content-Length: %zu\r\n\r\n%s",
                                     status[k], strlen(bodies[k]), bodies[k]);
  }
  g_event_chunk_len = (size_t)snprintf(g_event_chunk, sizeof g_event_chunk, "%zx\r\n%s\r\n",
                                       strlen(kStreamEvent), kStreamEvent);
}

static void conn_close(int fd) {
  Conn* c = &g_conns[fd];
  if (!c->open) return;
  epoll_ctl(g_ep, EPOLL_CTL_DEL, fd, NULL);
  close(fd);
  c->open = 0;
  c->gen++;
  c->in_len = c->out_len = c->out_off = 0;
  c->state = kRead;
}

static void set_want_out(int fd, int want) {
  Conn* c = &g_conns[fd];
  if (c->want_out == want) return;
  struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.fd = fd};
  epoll_ctl(g_ep, EPOLL_CTL_MOD, fd, &ev);
  c->want_out = want;
}

// Sends what is buffered; returns 0 when everything is out, 1 while bytes remain, -1 on error.
static int flush_out(int fd) {
  Conn* c = &g_conns[fd];
  while (c->out_off < c->out_len) {
    ssize_t n = send(fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        set_want_out(fd, 1);
        return 1;
      }
      return -1;
    }
    c->out_off += (size_t)n;
  }
  c->out_off = c->out_len = 0;
  set_want_out(fd, 0);
  return 0;
}

static int queue_out(int fd, const char* data, size_t len) {
  Conn* c = &g_conns[fd];
  if (c->out_len + len > c->out_cap) {
    size_t cap = c->out_cap ? c->out_cap : 4096;
    while (cap < c->out_len + len) cap *= 2;
    char* p = realloc(c->out, cap);
    if (!p) return -1;
    c->out = p;
    c->out_cap = cap;
  }
  memcpy(c->out + c->out_len, data, len);
  c->out_len += len;
  return flush_out(fd);
}

static void process_input(int fd);

static void respond(int fd, int kind, int close_after) {
  Conn* c = &g_conns[fd];
  int r = queue_out(fd, g_resp[kind], g_resp_len[kind]);
  if (r < 0) {
    conn_close(fd);
    return;
  }
  if (kind == kStreamHead) {
    c->state = kStreaming;
    if (queue_out(fd, g_event_chunk, g_event_chunk_len) < 0) conn_close(fd);
    return;
  }
  c->state = kRead;
  if (close_after) {
    c->close_after = 1;
    if (r == 0) conn_close(fd);
    return;
  }
  if (r == 0) process_input(fd);  // a pipelined request may already be buffered
}

static void enqueue(int fd, int kind, int close_after, int64_t delay_ns) {
  if (g_q_len == g_q_cap) {
    size_t cap = g_q_cap ? g_q_cap * 2 : 1024;
    Pending* q = malloc(cap * sizeof *q);
    if (!q) die("malloc");
    for (size_t i = 0; i < g_q_len; ++i) q[i] = g_queue[(g_q_head + i) % g_q_cap];
    free(g_queue);
    g_queue = q;
    g_q_cap = cap;
    g_q_head = 0;
  }
  Pending* p = &g_queue[(g_q_head + g_q_len) % g_q_cap];
  p->fd = fd;
  p->gen = g_conns[fd].gen;
  p->kind = kind;
  p->close_after = close_after;
  p->due_ns = now_ns() + delay_ns;
  g_q_len++;
  g_conns[fd].state = kWaiting;
}

static int64_t g_delay_ns;

static int header_value(const char* head, size_t head_len, const char* name, char* out,
                        size_t out_size) {
  size_t name_len = strlen(name);
  const char* p = memchr(head, '\n', head_len);
  while (p && (size_t)(p - head) + 1 < head_len) {
    const char* line = p + 1;
    const char* end = memchr(line, '\n', head_len - (size_t)(line - head));
    if (!end) break;
    if ((size_t)(end - line) > name_len && line[name_len] == ':' &&
        strncasecmp(line, name, name_len) == 0) {
      const char* v = line + name_len + 1;
      while (v < end && (*v == ' ' || *v == '\t')) v++;
      size_t n = (size_t)(end - v);
      while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' ')) n--;
      if (n >= out_size) n = out_size - 1;
      memcpy(out, v, n);
      out[n] = '\0';
      return 1;
    }
    p = end;
  }
  return 0;
}

static void process_input(int fd) {
  Conn* c = &g_conns[fd];
  if (c->state != kRead || c->out_len > 0) return;
  char* head_end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
  if (!head_end) return;
  size_t head_len = (size_t)(head_end - c->in) + 4;
  char value[64];
  size_t body_len = 0;
  if (header_value(c->in, head_len, "transfer-encoding", value, sizeof value)) {
    c->in_len = 0;
    respond(fd, kNotImpl, 1);
    return;
  }
  if (header_value(c->in, head_len, "content-length", value, sizeof value)) {
    body_len = strtoul(value, NULL, 10);
  }
  if (c->in_len < head_len + body_len) return;
  int close_after = header_value(c->in, head_len, "connection", value, sizeof value) &&
                    strcasecmp(value, "close") == 0;
  int kind = kNotFound;
  int delayed = 0;
  if (strncmp(c->in, "GET /readyz ", 12) == 0 || strncmp(c->in, "GET /health ", 12) == 0) {
    kind = kReady;
  } else if (strncmp(c->in, "POST /v1/chat/completions ", 26) == 0) {
    const char* body = c->in + head_len;
    int stream = memmem(body, body_len, "\"stream\":true", 13) != NULL ||
                 memmem(body, body_len, "\"stream\": true", 14) != NULL;
    kind = stream ? kStreamHead : kChat;
    delayed = 1;
  } else if (strncmp(c->in, "POST /tools/invoke ", 19) == 0) {
    kind = kTools;
    delayed = 1;
  }
  size_t used = head_len + body_len;
  memmove(c->in, c->in + used, c->in_len - used);
  c->in_len -= used;
  if (delayed && g_delay_ns > 0) {
    enqueue(fd, kind, close_after, g_delay_ns);
  } else {
    respond(fd, kind, close_after);
  }
}

static void on_readable(int fd) {
  Conn* c = &g_conns[fd];
  for (;;) {
    if (c->in_cap - c->in_len < 4096) {
      size_t cap = c->in_cap ? c->in_cap * 2 : 8192;
      if (cap > (64u << 20)) {
        conn_close(fd);
        return;
      }
      char* p = realloc(c->in, cap);
      if (!p) die("realloc");
      c->in = p;
      c->in_cap = cap;
    }
    ssize_t n = recv(fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
    if (n > 0) {
      c->in_len += (size_t)n;
      continue;
    }
    if (n == 0) {
      conn_close(fd);
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) break;
    conn_close(fd);
    return;
  }
  if (c->state == kStreaming) {
    c->in_len = 0;  // a streaming peer has nothing more to say; ignore it
    return;
  }
  process_input(fd);
}

static void on_accept(int lfd) {
  for (;;) {
    int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) perror("accept4");
      return;
    }
    if (fd >= g_max_fd) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Conn* c = &g_conns[fd];
    c->open = 1;
    c->state = kRead;
    c->close_after = 0;
    c->want_out = 0;
    c->in_len = c->out_len = c->out_off = 0;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
  }
}

// Waits for events at most `wait_ns`. epoll_wait's millisecond timeout would release every
// answer due within the same millisecond together, up to 1 ms late: bursts that a real gateway
// does not make and that a proxy sharing the core then pays for in queueing. epoll_pwait2
// (Linux 5.11) takes nanoseconds; older kernels fall back to rounding up to milliseconds.
static int wait_events(struct epoll_event* events, int max, int64_t wait_ns) {
  static int have_pwait2 = 1;
  if (have_pwait2) {
    struct timespec ts = {.tv_sec = wait_ns / 1000000000LL, .tv_nsec = wait_ns % 1000000000LL};
    int n = epoll_pwait2(g_ep, events, max, &ts, NULL);
    if (n >= 0 || errno != ENOSYS) return n;
    have_pwait2 = 0;
  }
  return epoll_wait(g_ep, events, max, (int)((wait_ns + 999999) / 1000000));
}

int main(int argc, char** argv) {
  int port = 0;
  int delay_ms = 0;
  int interval_ms = 1000;
  int opt;
  while ((opt = getopt(argc, argv, "p:d:i:")) != -1) {
    switch (opt) {
      case 'p':
        port = atoi(optarg);
        break;
      case 'd':
        delay_ms = atoi(optarg);
        break;
      case 'i':
        interval_ms = atoi(optarg);
        break;
      default:
        fprintf(stderr, "usage: %s [-p PORT] [-d DELAY_MS] [-i SSE_INTERVAL_MS]\n", argv[0]);
        return 2;
    }
  }
  if (interval_ms < 1) interval_ms = 1;
  g_delay_ns = (int64_t)delay_ms * 1000000LL;
  build_responses();
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, on_signal);
  signal(SIGINT, on_signal);

  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0) die("getrlimit");
  g_max_fd = (int)(rl.rlim_cur > 1048576 ? 1048576 : rl.rlim_cur);
  g_conns = calloc((size_t)g_max_fd, sizeof *g_conns);
  if (!g_conns) die("calloc");

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(lfd, (struct sockaddr*)&addr, sizeof addr) < 0) die("bind");
  if (listen(lfd, 4096) < 0) die("listen");
  socklen_t alen = sizeof addr;
  if (getsockname(lfd, (struct sockaddr*)&addr, &alen) < 0) die("getsockname");
  printf("PORT %d\n", ntohs(addr.sin_port));
  fflush(stdout);

  g_ep = epoll_create1(EPOLL_CLOEXEC);
  if (g_ep < 0) die("epoll_create1");
  struct epoll_event lev = {.events = EPOLLIN, .data.fd = lfd};
  if (epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev) < 0) die("epoll_ctl");

  struct epoll_event events[512];
  const int64_t interval_ns = (int64_t)interval_ms * 1000000LL;
  int64_t next_tick = now_ns() + interval_ns;
  while (!g_stop) {
    int64_t now = now_ns();
    int64_t wake = next_tick;
    if (g_q_len > 0 && g_queue[g_q_head].due_ns < wake) wake = g_queue[g_q_head].due_ns;
    int n = wait_events(events, 512, wake <= now ? 0 : wake - now);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == lfd) {
        on_accept(lfd);
        continue;
      }
      Conn* c = &g_conns[fd];
      if (!c->open) continue;
      if (events[i].events & (EPOLLERR | EPOLLHUP)) {
        conn_close(fd);
        continue;
      }
      if (events[i].events & EPOLLOUT) {
        int r = flush_out(fd);
        if (r < 0 || (r == 0 && c->close_after)) {
          conn_close(fd);
          continue;
        }
        if (r == 0 && c->state == kRead) process_input(fd);
      }
      if (c->open && (events[i].events & EPOLLIN)) on_readable(fd);
    }
    now = now_ns();
    while (g_q_len > 0 && g_queue[g_q_head].due_ns <= now) {
      Pending p = g_queue[g_q_head];
      g_q_head = (g_q_head + 1) % g_q_cap;
      g_q_len--;
      if (g_conns[p.fd].open && g_conns[p.fd].gen == p.gen) respond(p.fd, p.kind, p.close_after);
    }
    if (now >= next_tick) {
      next_tick = now + interval_ns;
      for (int fd = 0; fd < g_max_fd; ++fd) {
        Conn* c = &g_conns[fd];
        if (!c->open || c->state != kStreaming) continue;
        if (c->out_len > (1u << 20)) continue;  // a peer that stopped reading gets no more
        if (queue_out(fd, g_event_chunk, g_event_chunk_len) < 0) conn_close(fd);
      }
    }
  }
  return 0;
}
