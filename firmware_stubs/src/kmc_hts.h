/*
 * kmc_hts.h - Health Thermometer Service (0x1809) and Battery Service (0x180F)
 * characteristic values of a kmc-monitor wrap (connected mode).
 * Layout: see ../PROTOCOL.md section 3.
 */
#ifndef KMC_HTS_H
#define KMC_HTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 16-bit UUIDs. */
#define KMC_HTS_SERVICE_UUID16          0x1809u
#define KMC_HTS_TEMP_MEASUREMENT_UUID16 0x2A1Cu /* indicate */
#define KMC_HTS_TEMP_TYPE_UUID16        0x2A1Du /* read */
#define KMC_HTS_INTERMEDIATE_UUID16     0x2A1Eu /* notify */
#define KMC_HTS_MEAS_INTERVAL_UUID16    0x2A21u /* read, indicate */
#define KMC_BAS_SERVICE_UUID16          0x180Fu
#define KMC_BAS_BATTERY_LEVEL_UUID16    0x2A19u /* read, notify */

/* Temperature Measurement flags byte. */
#define KMC_HTS_FLAG_FAHRENHEIT 0x01u /* bit 0: 0 = Celsius, 1 = Fahrenheit */
#define KMC_HTS_FLAG_TIMESTAMP  0x02u /* bit 1: 7-byte Date Time follows */
#define KMC_HTS_FLAG_TYPE       0x04u /* bit 2: 1-byte Temperature Type follows */

/* Temperature Type values (0x2A1D). 0 and 10..255 are reserved. */
#define KMC_HTS_TYPE_ARMPIT         1u
#define KMC_HTS_TYPE_BODY           2u /* body (general): the wrap's skin sensor */
#define KMC_HTS_TYPE_EAR            3u
#define KMC_HTS_TYPE_FINGER         4u
#define KMC_HTS_TYPE_GI_TRACT       5u
#define KMC_HTS_TYPE_MOUTH          6u
#define KMC_HTS_TYPE_RECTUM         7u
#define KMC_HTS_TYPE_TOE            8u
#define KMC_HTS_TYPE_TYMPANUM       9u

#define KMC_HTS_DATE_TIME_LEN 7u
#define KMC_HTS_MEAS_MIN_LEN  5u  /* flags + FLOAT */
#define KMC_HTS_MEAS_MAX_LEN  13u /* flags + FLOAT + date time + type */

/* Bluetooth Date Time (0x2A08). 0 in year/month/day means "not known". */
typedef struct kmc_date_time {
    uint16_t year;   /* 1582..9999, or 0 */
    uint8_t month;   /* 1..12, or 0 */
    uint8_t day;     /* 1..31, or 0 */
    uint8_t hours;   /* 0..23 */
    uint8_t minutes; /* 0..59 */
    uint8_t seconds; /* 0..59 */
} kmc_date_time;

typedef struct kmc_hts_measurement {
    uint32_t temperature;    /* IEEE-11073 FLOAT, raw (kmc_float_pack/encode), in degC or degF */
    bool fahrenheit;         /* unit of `temperature` */
    bool has_timestamp;
    kmc_date_time timestamp;
    bool has_type;           /* the wrap leaves this false: it exposes 0x2A1D instead */
    uint8_t type;            /* KMC_HTS_TYPE_*, used when has_type */
} kmc_hts_measurement;

/* Temperature Measurement (0x2A1C) / Intermediate Temperature (0x2A1E) value.
 * Returns 5, 6, 12 or 13 bytes, or 0 on error (NULL, invalid date/time,
 * reserved type, cap too small). */
size_t kmc_hts_measurement_build(const kmc_hts_measurement *m, uint8_t *out, size_t cap);

/* Temperature Type (0x2A1D): 1 byte. Returns 1 or 0. */
size_t kmc_hts_temperature_type_build(uint8_t type, uint8_t *out, size_t cap);

/* Measurement Interval (0x2A21): uint16 LE seconds (0 = no periodic
 * measurement). Returns 2 or 0. */
size_t kmc_hts_interval_build(uint16_t seconds, uint8_t *out, size_t cap);

/* Battery Level (0x2A19): uint8 0..100 %. Returns 1 or 0. */
size_t kmc_bas_level_build(uint8_t pct, uint8_t *out, size_t cap);

/* Celsius (0.01 degC) to Fahrenheit (0.01 degF), integer arithmetic:
 * F = round_half_away(C * 9 / 5) + 3200. Used by the Fahrenheit vectors. */
int32_t kmc_centi_c_to_centi_f(int32_t centi_c);

#endif /* KMC_HTS_H */
