/* kmc_hts.c - Health Thermometer Service values. */
#include "kmc_hts.h"

#include "kmc_ieee11073.h"
#include "kmc_wrap.h"

static bool date_time_valid(const kmc_date_time *t)
{
    return (t->year == 0u || (t->year >= 1582u && t->year <= 9999u)) && t->month <= 12u &&
           t->day <= 31u && t->hours <= 23u && t->minutes <= 59u && t->seconds <= 59u;
}

static bool type_valid(uint8_t type)
{
    return type >= KMC_HTS_TYPE_ARMPIT && type <= KMC_HTS_TYPE_TYMPANUM;
}

size_t kmc_hts_measurement_build(const kmc_hts_measurement *m, uint8_t *out, size_t cap)
{
    if (m == NULL || out == NULL) {
        return 0;
    }
    size_t need = KMC_HTS_MEAS_MIN_LEN;
    uint8_t flags = 0;
    if (m->fahrenheit) {
        flags |= KMC_HTS_FLAG_FAHRENHEIT;
    }
    if (m->has_timestamp) {
        if (!date_time_valid(&m->timestamp)) {
            return 0;
        }
        flags |= KMC_HTS_FLAG_TIMESTAMP;
        need += KMC_HTS_DATE_TIME_LEN;
    }
    if (m->has_type) {
        if (!type_valid(m->type)) {
            return 0;
        }
        flags |= KMC_HTS_FLAG_TYPE;
        need += 1u;
    }
    if (cap < need) {
        return 0;
    }
    uint8_t *p = out;
    *p++ = flags;
    kmc_float_put_le(m->temperature, p);
    p += 4;
    if (m->has_timestamp) {
        kmc_put_le16(p, m->timestamp.year);
        p += 2;
        *p++ = m->timestamp.month;
        *p++ = m->timestamp.day;
        *p++ = m->timestamp.hours;
        *p++ = m->timestamp.minutes;
        *p++ = m->timestamp.seconds;
    }
    if (m->has_type) {
        *p++ = m->type;
    }
    return (size_t)(p - out);
}

size_t kmc_hts_temperature_type_build(uint8_t type, uint8_t *out, size_t cap)
{
    if (out == NULL || cap < 1u || !type_valid(type)) {
        return 0;
    }
    out[0] = type;
    return 1;
}

size_t kmc_hts_interval_build(uint16_t seconds, uint8_t *out, size_t cap)
{
    if (out == NULL || cap < 2u) {
        return 0;
    }
    kmc_put_le16(out, seconds);
    return 2;
}

size_t kmc_bas_level_build(uint8_t pct, uint8_t *out, size_t cap)
{
    if (out == NULL || cap < 1u || pct > KMC_BATTERY_PCT_MAX) {
        return 0;
    }
    out[0] = pct;
    return 1;
}

int32_t kmc_centi_c_to_centi_f(int32_t centi_c)
{
    int32_t n = centi_c * 9;
    int32_t q = n >= 0 ? (n + 2) / 5 : -((-n + 2) / 5); /* half away from zero */
    return q + 3200;
}
