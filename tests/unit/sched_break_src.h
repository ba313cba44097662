/* sched_break_src.h — a DSL sampler with `break if` in nested loops, shared by the tests of the
 * resident loop path (test_sched_resident on the CPU backend, test_cuda_models on a GPU). Every
 * element of x and acc stays equal, so the loops can be simulated on scalars. */
#ifndef DLM_SCHED_BREAK_SRC_H
#define DLM_SCHED_BREAK_SRC_H

static const char sched_break_src[] =
  "sym B\n"
  "sampler brk(n: i64 = 10, lim: i32 = 40, stop: i32 = 20) -> (i32[B, 4], i32[B, 4]) {\n"
  "  state x: i32[B, 4] = full([B, 4], 0, i32)\n"
  "  state acc: i32[B, 4] = full([B, 4], 0, i32)\n"
  "  loop i in 0..n {\n"
  "    x = x + cast(i, i32)\n"
  "    loop j in 0..3 {\n"
  "      acc = acc + x + cast(j, i32)\n"
  "      break if sum(sum(acc, axis = 1), axis = 0) > lim * 8\n"
  "      acc = acc + 1\n"
  "    }\n"
  "    break if sum(sum(x, axis = 1), axis = 0) > stop * 8\n"
  "    x = x + 1\n"
  "  }\n"
  "  return x, acc\n"
  "}\n";

#endif
