#ifndef CLIBPQ_SHIM_H
#define CLIBPQ_SHIM_H
#include <libpq-fe.h>
#ifdef __linux__
// The Postgres module's event loop (epoll + eventfd); Swift's Glibc module does not export these.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#endif
#endif
