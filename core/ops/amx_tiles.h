/* amx_tiles.h: the one AMX tile configuration every loom kernel uses (files built with the
 * AMX flags only): eight 16-row x 64-byte tiles, tmm0-3 f32 accumulators (16x16), tmm4-5
 * A operands (16x32 bf16), tmm6-7 B operands (32x16 bf16 in VNNI pairs). */
#ifndef LOOM_OPS_AMX_TILES_H
#define LOOM_OPS_AMX_TILES_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

typedef struct amx_tile_cfg {
    uint8_t  palette_id, start_row, reserved[14];
    uint16_t colsb[16];
    uint8_t  rows[16];
} amx_tile_cfg;

static inline void amx_tiles_configure(void)
{
    _Alignas(64) amx_tile_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette_id = 1;
    for (int i = 0; i < 8; i++) {
        cfg.rows[i] = 16;
        cfg.colsb[i] = 64;
    }
    /* GCC does not see ldtilecfg read the whole struct and drops the stores to rows and
     * colsb without this barrier (observed with gcc 12 -O2). */
    __asm__ volatile("" : : "r"(&cfg) : "memory");
    _tile_loadconfig(&cfg);
}
#endif
