/* test_philox.c — Philox4x32-10 against the Random123 known-answer vectors (kat_vectors), and the
 * rand_uniform draw built on it (philox_uniform) against values derived by hand from a vector. */
#include "check.h"
#include "interp.h"

static void kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3) {
  uint32_t ctr[4] = {c0, c1, c2, c3}, key[2] = {k0, k1}, out[4];
  philox4x32_10(ctr, key, out);
  CHECK_MSG(out[0] == r0 && out[1] == r1 && out[2] == r2 && out[3] == r3, "got %08x %08x %08x %08x", out[0], out[1],
            out[2], out[3]);
}

int main(void) {
  /* Random123 kat_vectors, philox4x32_10 lines. */
  kat(0, 0, 0, 0, 0, 0, 0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8);
  kat(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0x408f276d, 0x41c83b0e, 0xa20bc7c6,
      0x6d5451fd);
  kat(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, 0xd16cfe09, 0x94fdcceb, 0x5001e420,
      0x24126ea1);

  /* philox_uniform maps (seed, offset, stream, j) to ctr {j lo, j hi, stream, offset lo}, key {seed lo, hi}.
   * seed 0, offset 0, stream 0, j 0 is the all-zero vector: out[0] = 0x6627e8d5, out[1] = 0xe169c58d.
   * f32 form: (0x6627e8d5 >> 8) * 2^-24 = 0x6627e8 / 2^24 = 6694888 / 16777216. */
  CHECK(philox_uniform(0, 0, 0, 0, 0) == 6694888.0 / 16777216.0);
  /* f64 form: (0x6627e8d5e169c58d >> 11) * 2^-53. */
  CHECK(philox_uniform(0, 0, 0, 0, 1) == (double)(0x6627e8d5e169c58dull >> 11) / 9007199254740992.0);
  /* The pi vector: j = 0x85a308d3243f6a88, stream 0x13198a2e, offset 0x03707344, seed 0x299f31d0a4093822. */
  CHECK(philox_uniform(0x299f31d0a4093822ull, 0x03707344, 0x13198a2e, 0x85a308d3243f6a88ull, 0) ==
        (double)(0xd16cfe09u >> 8) / 16777216.0);
  /* Only the low 32 bits of offset enter the counter. */
  CHECK(philox_uniform(5, 7, 1, 3, 1) == philox_uniform(5, 7 + (1ull << 32), 1, 3, 1));
  CHECK(philox_uniform(5, 7, 1, 3, 1) != philox_uniform(5, 8, 1, 3, 1));
  return check_summary("test_philox");
}
