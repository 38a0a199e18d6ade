/*
 * kmc_ieee11073.h - IEEE 11073-20601 32-bit FLOAT (as used by the Bluetooth
 * Health Thermometer Service).
 *
 * Layout of the 32-bit value (sent little-endian, 4 bytes):
 *   bits 31..24  exponent, signed 8-bit (two's complement)
 *   bits 23..0   mantissa, signed 24-bit (two's complement)
 *   value = mantissa * 10^exponent
 *
 * Mantissas 0x7FFFFE..0x800002 are reserved; they are sent with exponent 0:
 */
#ifndef KMC_IEEE11073_H
#define KMC_IEEE11073_H

#include <stdint.h>

#define KMC_FLOAT_NAN      0x007FFFFFu /* Not a Number */
#define KMC_FLOAT_NRES     0x00800000u /* Not at this Resolution */
#define KMC_FLOAT_POS_INF  0x007FFFFEu /* +INFINITY */
#define KMC_FLOAT_NEG_INF  0x00800002u /* -INFINITY */
#define KMC_FLOAT_RESERVED 0x00800001u /* reserved for future use */

/* Largest magnitude of an ordinary (non-reserved) mantissa: 0x7FFFFD. */
#define KMC_FLOAT_MANTISSA_MAX 8388605L
#define KMC_FLOAT_MANTISSA_MIN (-8388605L)

/* Return codes. */
#define KMC_FLOAT_OK      0
#define KMC_FLOAT_ERANGE  (-1) /* mantissa does not fit at this exponent */
#define KMC_FLOAT_EINVAL  (-2) /* NULL output pointer */
#define KMC_FLOAT_SPECIAL 1    /* kmc_float_unpack: raw value is one of the reserved codes */

/* Pack an exact mantissa/exponent pair. Fails with KMC_FLOAT_ERANGE when the
 * mantissa is outside [KMC_FLOAT_MANTISSA_MIN, KMC_FLOAT_MANTISSA_MAX]. */
int kmc_float_pack(int32_t mantissa, int8_t exponent, uint32_t *raw);

/* Encode a float at a chosen exponent: mantissa = round(value / 10^exponent),
 * rounding half away from zero (computed in double). NaN, +inf and -inf map to
 * KMC_FLOAT_NAN, KMC_FLOAT_POS_INF and KMC_FLOAT_NEG_INF. A finite value whose
 * mantissa would not fit returns KMC_FLOAT_ERANGE and leaves *raw untouched
 * (the caller decides: a coarser exponent, +/-INF, or NRes). */
int kmc_float_encode(float value, int8_t exponent, uint32_t *raw);

/* Split a raw value. Returns KMC_FLOAT_OK for an ordinary number, or
 * KMC_FLOAT_SPECIAL when the mantissa is one of the five reserved codes
 * (the mantissa and exponent outputs still receive the sign-extended fields). */
int kmc_float_unpack(uint32_t raw, int32_t *mantissa, int8_t *exponent);

/* Write the raw value little-endian (4 bytes), as it goes on air. */
void kmc_float_put_le(uint32_t raw, uint8_t out[4]);

#endif /* KMC_IEEE11073_H */
