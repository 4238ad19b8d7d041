/*
 * philox.h: the Philox4x32-10 counter-based generator (Salmon, Moraes, Dror & Shaw,
 * "Parallel random numbers: as easy as 1, 2, 3", SC'11), the scalar reference; the
 * 64-bit-lane AVX-512 version is philox_lanes_u64 (noise.c).  A block of four 32-bit
 * words is a pure function of the 128-bit counter and the 64-bit key.
 */
#ifndef GLR_PHILOX_H
#define GLR_PHILOX_H

#include "glr_internal.h"

/* round multipliers (M) and the Weyl sequence that bumps the key between rounds (W) */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

/* One round: two 32 x 32 -> 64-bit products, their halves exclusive-ored with the
 * other two words and the key. */
GLR_INLINE void philox_round(uint32_t *x0, uint32_t *x1, uint32_t *x2, uint32_t *x3,
                             uint32_t k0, uint32_t k1)
{
    uint64_t p0 = (uint64_t)PHILOX_M0 * (uint64_t)(*x0);
    uint64_t p1 = (uint64_t)PHILOX_M1 * (uint64_t)(*x2);
    uint32_t y0 = (uint32_t)(p1 >> 32) ^ *x1 ^ k0;
    uint32_t y1 = (uint32_t)p1;
    uint32_t y2 = (uint32_t)(p0 >> 32) ^ *x3 ^ k1;
    uint32_t y3 = (uint32_t)p0;
    *x0 = y0; *x1 = y1; *x2 = y2; *x3 = y3;
}

/* Ten rounds, the key bumped by the Weyl constants after each. */
GLR_INLINE void philox10(uint32_t *x0, uint32_t *x1, uint32_t *x2, uint32_t *x3,
                         uint32_t k0, uint32_t k1)
{
    for (int round = 0; round < 10; ++round) {
        philox_round(x0, x1, x2, x3, k0, k1);
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
}

/* A 32-bit word to a uniform in the open interval (0, 1): the top 24 bits with the
 * lowest forced to 1, i.e. odd multiples of 2^-24.  Exact in float; never 0 or 1. */
GLR_INLINE float uniform_open(uint32_t word)
{
    return (float)(int32_t)((word >> 8) | 1u) * 0x1p-24f;
}

#endif /* GLR_PHILOX_H */
