/* kmc_ieee11073.c - IEEE 11073-20601 32-bit FLOAT encoding. */
#include "kmc_ieee11073.h"

#include <math.h>
#include <stddef.h>

#include "kmc_wrap.h"

int kmc_float_pack(int32_t mantissa, int8_t exponent, uint32_t *raw)
{
    if (raw == NULL) {
        return KMC_FLOAT_EINVAL;
    }
    if (mantissa > KMC_FLOAT_MANTISSA_MAX || mantissa < KMC_FLOAT_MANTISSA_MIN) {
        return KMC_FLOAT_ERANGE;
    }
    *raw = ((uint32_t)(uint8_t)exponent << 24) | ((uint32_t)mantissa & 0x00FFFFFFu);
    return KMC_FLOAT_OK;
}

/* 10^n for 0 <= n <= 128, as a double (exact up to 10^22). */
static double pow10_u(unsigned n)
{
    double p = 1.0;
    while (n-- > 0u) {
        p *= 10.0;
    }
    return p;
}

int kmc_float_encode(float value, int8_t exponent, uint32_t *raw)
{
    if (raw == NULL) {
        return KMC_FLOAT_EINVAL;
    }
    if (isnan(value)) {
        *raw = KMC_FLOAT_NAN;
        return KMC_FLOAT_OK;
    }
    if (isinf(value)) {
        *raw = value > 0.0f ? KMC_FLOAT_POS_INF : KMC_FLOAT_NEG_INF;
        return KMC_FLOAT_OK;
    }
    double scaled = (double)value;
    if (exponent < 0) {
        scaled *= pow10_u((unsigned)(-(int)exponent));
    } else if (exponent > 0) {
        scaled /= pow10_u((unsigned)exponent);
    }
    /* Range check before the conversion (also keeps the cast defined). */
    const double limit = (double)KMC_FLOAT_MANTISSA_MAX + 0.5;
    if (!(scaled < limit && scaled > -limit)) {
        return KMC_FLOAT_ERANGE;
    }
    int32_t mantissa = scaled >= 0.0 ? (int32_t)(scaled + 0.5) : -(int32_t)(-scaled + 0.5);
    return kmc_float_pack(mantissa, exponent, raw);
}

int kmc_float_unpack(uint32_t raw, int32_t *mantissa, int8_t *exponent)
{
    if (mantissa == NULL || exponent == NULL) {
        return KMC_FLOAT_EINVAL;
    }
    uint32_t m = raw & 0x00FFFFFFu;
    /* Sign-extend the 24-bit mantissa without implementation-defined shifts. */
    *mantissa = (m & 0x00800000u) ? (int32_t)m - 0x01000000L : (int32_t)m;
    uint8_t e = (uint8_t)(raw >> 24);
    *exponent = (int8_t)(e < 128u ? (int)e : (int)e - 256);
    if (m >= 0x007FFFFEu && m <= 0x00800002u) {
        return KMC_FLOAT_SPECIAL;
    }
    return KMC_FLOAT_OK;
}

void kmc_float_put_le(uint32_t raw, uint8_t out[4])
{
    kmc_put_le32(out, raw);
}
