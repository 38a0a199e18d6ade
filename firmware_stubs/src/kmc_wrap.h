/*
 * kmc_wrap.h - common types of the kmc-monitor wrap (firmware side).
 *
 * Protocol: see ../PROTOCOL.md. All multi-byte values on air are little-endian.
 * No dynamic allocation anywhere in these stubs; every builder writes into a
 * caller-supplied buffer and returns the number of bytes written, or 0 on error.
 */
#ifndef KMC_WRAP_H
#define KMC_WRAP_H

#include <stddef.h>
#include <stdint.h>

/* Temperature sentinel: 0x8000 (-32768 in 0.01 degC) means "sensor not available". */
#define KMC_TEMP_NOT_AVAILABLE INT16_MIN

/* Upper bounds checked by the builders. */
#define KMC_CONTACT_LEVEL_MAX 100u
#define KMC_BATTERY_PCT_MAX   100u

/* One measurement of a wrap, in the units that go on air (no floats). */
typedef struct kmc_wrap_sample {
    int16_t skin_temp_centi_c;    /* skin-side thermistor, 0.01 degC (3682 = 36.82 degC) */
    int16_t ambient_temp_centi_c; /* outer (ambient) thermistor, 0.01 degC */
    uint8_t contact_level;        /* skin-contact level 0..100 % */
    uint8_t contact;              /* binary skin-contact state, 0 or 1 */
    uint8_t battery_pct;          /* battery 0..100 % */
} kmc_wrap_sample;

/* Little-endian stores, shared by the builders. */
static inline void kmc_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static inline void kmc_put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

/* Range check of a sample: 1 when every field is within its documented range. */
static inline int kmc_sample_valid(const kmc_wrap_sample *s)
{
    return s != NULL && s->contact_level <= KMC_CONTACT_LEVEL_MAX && s->contact <= 1u &&
           s->battery_pct <= KMC_BATTERY_PCT_MAX;
}

#endif /* KMC_WRAP_H */
