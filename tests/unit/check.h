/* check.h — a minimal assertion harness for the unit tests: CHECK records a failure with the
 * expression text and location; CHECK_NEAR compares doubles; check_summary prints the counts and
 * gives main's exit status. */
#ifndef DLM_CHECK_H
#define DLM_CHECK_H
#include <math.h>
#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(cond) do { if (cond) check_passed++; else { check_failed++; \
  fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_MSG(cond, ...) do { if (cond) check_passed++; else { check_failed++; \
  fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
  fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_NEAR(a, b, tol) do { double check_a_ = (a), check_b_ = (b); \
  if (fabs(check_a_ - check_b_) <= (tol) * (1 + fabs(check_b_))) check_passed++; else { check_failed++; \
  fprintf(stderr, "%s:%d: check failed: %s = %.17g, expected %s = %.17g\n", __FILE__, __LINE__, \
          #a, check_a_, #b, check_b_); } } while (0)

static inline int check_summary(const char *name) {
  printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
  return check_failed ? 1 : 0;
}
#endif
