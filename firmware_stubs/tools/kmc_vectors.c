/*
 * kmc_vectors.c - print test vectors of the kmc-monitor wrap protocol as JSON
 * lines on stdout, for the Python decoders (tests/firmware/test_stubs_build.py
 * :: stub_vectors()). Deterministic: a fixed-seed LCG, no time, no rand().
 *
 * Kinds (one JSON object per line):
 *   bthome  - BTHome v2 service data (hex starts with the device-info byte)
 *   hts     - Temperature Measurement 0x2A1C value
 *   contact - KMC contact characteristic value
 *   float   - IEEE-11073 32-bit FLOAT (4 bytes LE), incl. the special values
 * Every line carries its own inputs; lines do not depend on each other. Per
 * MAC, encrypted bthome lines appear with strictly increasing counters and
 * packet ids incrementing by one (mod 256), in file order.
 */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmc_bthome.h"
#include "kmc_contact.h"
#include "kmc_hts.h"
#include "kmc_ieee11073.h"
#include "kmc_wrap.h"

/* ------------------------------------------------------------------ LCG */

static uint64_t lcg_state = 0x4B4D43u; /* "KMC" */

static uint32_t lcg_next(void)
{
    /* Knuth MMIX constants; the high 32 bits are returned. */
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(lcg_state >> 32);
}

/* Uniform-ish integer in [lo, hi] (modulo bias is irrelevant here). */
static int32_t lcg_range(int32_t lo, int32_t hi)
{
    uint32_t span = (uint32_t)(hi - lo) + 1u;
    return lo + (int32_t)(lcg_next() % span);
}

/* -------------------------------------------------------------- helpers */

static void die(const char *what)
{
    fprintf(stderr, "kmc_vectors: %s\n", what);
    exit(1);
}

static void put_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        printf("%02x", p[i]);
    }
}

/* Exact decimal text of mantissa * 10^exponent, always with a fraction part
 * (so JSON readers get a float): 3682,-2 -> 36.82; 2610,-2 -> 26.1;
 * 15,2 -> 1500.0; -5,-2 -> -0.05. */
static void put_decimal(int64_t mantissa, int exponent)
{
    char digits[64];
    bool neg = mantissa < 0;
    uint64_t mag = neg ? (uint64_t)(-(mantissa + 1)) + 1u : (uint64_t)mantissa;
    int len = snprintf(digits, sizeof digits, "%" PRIu64, mag);
    if (len <= 0) {
        die("snprintf");
    }
    if (neg) {
        putchar('-');
    }
    if (exponent >= 0) {
        fputs(digits, stdout);
        for (int i = 0; i < exponent && mag != 0u; i++) {
            putchar('0');
        }
        fputs(".0", stdout);
        return;
    }
    int frac = -exponent;
    char intpart[80];
    char fracpart[160];
    if (len > frac) {
        memcpy(intpart, digits, (size_t)(len - frac));
        intpart[len - frac] = '\0';
        memcpy(fracpart, digits + (len - frac), (size_t)frac);
        fracpart[frac] = '\0';
    } else {
        strcpy(intpart, "0");
        int zeros = frac - len;
        memset(fracpart, '0', (size_t)zeros);
        memcpy(fracpart + zeros, digits, (size_t)len);
        fracpart[frac] = '\0';
    }
    int end = frac;
    while (end > 1 && fracpart[end - 1] == '0') {
        end--;
    }
    fracpart[end] = '\0';
    printf("%s.%s", intpart, fracpart);
}

static void put_mac(const uint8_t mac[6])
{
    printf("\"%02X:%02X:%02X:%02X:%02X:%02X\"", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
}

/* --------------------------------------------------------------- bthome */

typedef struct wrap_dev {
    uint8_t mac[6];
    bool encrypted;
    uint8_t key[16];
    uint32_t counter; /* next counter to use */
    uint8_t packet_id;
} wrap_dev;

static void emit_bthome(wrap_dev *w, const kmc_wrap_sample *s, uint32_t counter_step)
{
    uint8_t out[KMC_BTHOME_MAX_LEN];
    uint32_t counter = w->counter;
    size_t n = kmc_bthome_build(s, w->packet_id, w->encrypted ? w->key : NULL, w->mac, counter, out,
                                sizeof out);
    if (n == 0) {
        die("kmc_bthome_build failed");
    }
    printf("{\"kind\":\"bthome\",\"mac\":");
    put_mac(w->mac);
    printf(",\"key\":");
    if (w->encrypted) {
        putchar('"');
        put_hex(w->key, sizeof w->key);
        putchar('"');
    } else {
        printf("null");
    }
    printf(",\"counter\":%" PRIu32 ",\"packet_id\":%u,\"skin_temp_c\":", w->encrypted ? counter : 0u,
           (unsigned)w->packet_id);
    put_decimal(s->skin_temp_centi_c, -2);
    printf(",\"ambient_temp_c\":");
    put_decimal(s->ambient_temp_centi_c, -2);
    printf(",\"contact_level\":%u,\"contact\":%u,\"battery_pct\":%u,\"hex\":\"", (unsigned)s->contact_level,
           (unsigned)s->contact, (unsigned)s->battery_pct);
    put_hex(out, n);
    printf("\"}\n");
    w->packet_id = (uint8_t)(w->packet_id + 1u);
    if (w->encrypted) {
        w->counter = counter + counter_step; /* callers never step past 0xFFFFFFFF */
    }
}

static kmc_wrap_sample random_sample(void)
{
    kmc_wrap_sample s;
    /* Mostly physiological, sometimes anywhere in the sint16 range. */
    int r = lcg_range(0, 9);
    if (r == 0) {
        s.skin_temp_centi_c = (int16_t)lcg_range(-32767, 32767);
        s.ambient_temp_centi_c = (int16_t)lcg_range(-32767, 32767);
    } else {
        s.skin_temp_centi_c = (int16_t)lcg_range(3000, 3950);
        s.ambient_temp_centi_c = (int16_t)lcg_range(-1500, 4000);
    }
    s.contact_level = (uint8_t)lcg_range(0, 100);
    s.contact = (uint8_t)(s.contact_level >= 50 ? 1 : 0);
    if (lcg_range(0, 7) == 0) {
        s.contact = (uint8_t)(1 - s.contact); /* the binary state has its own hysteresis */
    }
    s.battery_pct = (uint8_t)lcg_range(0, 100);
    return s;
}

static void random_bytes(uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(lcg_next() >> 24);
    }
}

static void gen_bthome(void)
{
    enum { NDEV = 6 };
    wrap_dev devs[NDEV];
    memset(devs, 0, sizeof devs);
    const uint8_t mac0[6] = {0xA4, 0xC1, 0x38, 0x8D, 0x18, 0xB9};
    for (int i = 0; i < NDEV; i++) {
        if (i == 0) {
            memcpy(devs[i].mac, mac0, 6);
        } else {
            random_bytes(devs[i].mac, 6);
            devs[i].mac[0] |= 0xC0u; /* static random address: two top bits set */
        }
        devs[i].encrypted = (i % 2) == 1;
        random_bytes(devs[i].key, 16);
        devs[i].packet_id = (uint8_t)lcg_range(0, 255);
    }
    /* The bthome-ble published key on device 1, counters from 0. */
    const uint8_t pubkey[16] = {0x23, 0x1d, 0x39, 0xc1, 0xd7, 0xcc, 0x1a, 0xb1,
                                0xae, 0xe2, 0x24, 0xcd, 0x09, 0x6d, 0xb9, 0x32};
    memcpy(devs[1].key, pubkey, 16);
    devs[1].counter = 0u;
    devs[3].counter = (uint32_t)lcg_range(1, 1000000);
    devs[5].counter = 0xFFFFFF00u; /* runs up to 0xFFFFFFFF at the end */

    /* Fixed samples: the documented example and the edges, on every device. */
    const kmc_wrap_sample fixed[] = {
        {3682, 2610, 93, 1, 88},
        {-525, -4000, 0, 0, 100},
        {32767, -32767, 100, 1, 0},
        {3700, 3699, 50, 1, 50},
        {0, 0, 0, 0, 0},
        {-1, 1, 100, 0, 1},
        {3549, 2199, 1, 0, 99},
    };
    for (int d = 0; d < NDEV; d++) {
        for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
            emit_bthome(&devs[d], &fixed[i], 1u);
        }
    }
    /* Random samples, counters stepping by 1..1000 (skipped adverts). */
    for (int k = 0; k < 90; k++) {
        int d = lcg_range(0, NDEV - 2); /* device 5 is kept for the counter end */
        kmc_wrap_sample s = random_sample();
        emit_bthome(&devs[d], &s, (uint32_t)lcg_range(1, 1000));
    }
    /* Device 5 walks its counter to 0xFFFFFFFF. */
    while (devs[5].counter < 0xFFFFFFFFu) {
        kmc_wrap_sample s = random_sample();
        uint32_t left = 0xFFFFFFFFu - devs[5].counter;
        uint32_t step = left < 60u ? left : (uint32_t)lcg_range(1, 60);
        emit_bthome(&devs[5], &s, step);
    }
    kmc_wrap_sample last = {3650, 2500, 77, 1, 42};
    emit_bthome(&devs[5], &last, 0u); /* counter 0xFFFFFFFF */
}

/* ------------------------------------------------------------------ hts */

static void emit_hts(int32_t centi_c, bool fahrenheit, int exponent, const kmc_date_time *ts, int type)
{
    kmc_hts_measurement m;
    memset(&m, 0, sizeof m);
    int32_t mantissa;
    if (fahrenheit) {
        mantissa = kmc_centi_c_to_centi_f(centi_c); /* 0.01 degF */
        exponent = -2;
    } else if (exponent == -1) {
        if (centi_c % 10 != 0) {
            die("exponent -1 needs a multiple of 0.1 degC");
        }
        mantissa = centi_c / 10;
    } else if (exponent == -3) {
        mantissa = centi_c * 10;
    } else {
        exponent = -2;
        mantissa = centi_c;
    }
    if (kmc_float_pack(mantissa, (int8_t)exponent, &m.temperature) != KMC_FLOAT_OK) {
        die("kmc_float_pack failed");
    }
    m.fahrenheit = fahrenheit;
    if (ts != NULL) {
        m.has_timestamp = true;
        m.timestamp = *ts;
    }
    if (type > 0) {
        m.has_type = true;
        m.type = (uint8_t)type;
    }
    uint8_t out[KMC_HTS_MEAS_MAX_LEN];
    size_t n = kmc_hts_measurement_build(&m, out, sizeof out);
    if (n == 0) {
        die("kmc_hts_measurement_build failed");
    }
    printf("{\"kind\":\"hts\",\"temperature_c\":");
    put_decimal(centi_c, -2);
    printf(",\"fahrenheit\":%s,\"timestamp\":", fahrenheit ? "true" : "false");
    if (ts != NULL) {
        printf("\"%04u-%02u-%02uT%02u:%02u:%02u\"", (unsigned)ts->year, (unsigned)ts->month,
               (unsigned)ts->day, (unsigned)ts->hours, (unsigned)ts->minutes, (unsigned)ts->seconds);
    } else {
        printf("null");
    }
    printf(",\"temperature_type\":");
    if (type > 0) {
        printf("%d", type);
    } else {
        printf("null");
    }
    printf(",\"mantissa\":%" PRId32 ",\"exponent\":%d,\"hex\":\"", mantissa, exponent);
    put_hex(out, n);
    printf("\"}\n");
}

static kmc_date_time random_date_time(void)
{
    kmc_date_time t;
    t.year = (uint16_t)lcg_range(2020, 2035);
    t.month = (uint8_t)lcg_range(1, 12);
    t.day = (uint8_t)lcg_range(1, 28);
    t.hours = (uint8_t)lcg_range(0, 23);
    t.minutes = (uint8_t)lcg_range(0, 59);
    t.seconds = (uint8_t)lcg_range(0, 59);
    return t;
}

static void gen_hts(void)
{
    /* Nordic golden vector first. */
    const kmc_date_time golden = {2012, 12, 5, 11, 50, 27};
    emit_hts(3760, false, -2, &golden, KMC_HTS_TYPE_FINGER);
    const kmc_date_time edges[] = {
        {1582, 1, 1, 0, 0, 0},
        {9999, 12, 31, 23, 59, 59},
        {2025, 2, 28, 12, 0, 0},
    };
    /* Edges: negative, zero, Fahrenheit, every combination of optional fields. */
    const int32_t temps[] = {3760, -525, 0, -4000, 4250, 3682, 3500, -1, 1};
    for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++) {
        for (int combo = 0; combo < 8; combo++) {
            bool f = (combo & 1) != 0;
            const kmc_date_time *ts = (combo & 2) ? &edges[i % 3] : NULL;
            int type = (combo & 4) ? (int)KMC_HTS_TYPE_BODY : 0;
            emit_hts(temps[i], f, -2, ts, type);
        }
    }
    emit_hts(3760, false, -1, NULL, 0);
    emit_hts(-530, false, -1, NULL, (int)KMC_HTS_TYPE_ARMPIT);
    emit_hts(3682, false, -3, &golden, (int)KMC_HTS_TYPE_TYMPANUM);
    emit_hts(-4000, false, -3, NULL, 0);
    for (int k = 0; k < 40; k++) {
        int32_t c = lcg_range(3000, 4200);
        bool f = lcg_range(0, 3) == 0;
        int e = -2;
        int pick = lcg_range(0, 3);
        if (!f && pick == 0) {
            e = -3;
        } else if (!f && pick == 1) {
            c -= c % 10;
            e = -1;
        }
        kmc_date_time ts = random_date_time();
        bool has_ts = lcg_range(0, 1) == 1;
        int type = lcg_range(0, 1) == 1 ? lcg_range(1, 9) : 0;
        emit_hts(c, f, e, has_ts ? &ts : NULL, type);
    }
}

/* -------------------------------------------------------------- contact */

static void emit_contact(const kmc_wrap_sample *s, uint32_t counter)
{
    uint8_t out[KMC_CONTACT_VALUE_LEN];
    size_t n = kmc_contact_build(s, counter, out, sizeof out);
    if (n == 0) {
        die("kmc_contact_build failed");
    }
    printf("{\"kind\":\"contact\",\"contact_level\":%u,\"contact\":%u,\"ambient_temp_c\":",
           (unsigned)s->contact_level, (unsigned)s->contact);
    if (s->ambient_temp_centi_c == KMC_TEMP_NOT_AVAILABLE) {
        printf("null");
    } else {
        put_decimal(s->ambient_temp_centi_c, -2);
    }
    printf(",\"counter\":%" PRIu32 ",\"hex\":\"", counter);
    put_hex(out, n);
    printf("\"}\n");
}

static void gen_contact(void)
{
    const kmc_wrap_sample fixed[] = {
        {3682, 2610, 93, 1, 88},
        {3682, KMC_TEMP_NOT_AVAILABLE, 0, 0, 88},
        {3682, -32767, 100, 1, 88},
        {3682, 32767, 100, 0, 88},
        {3682, -1, 1, 0, 88},
        {3682, 0, 50, 1, 88},
    };
    const uint32_t counters[] = {0u, 1u, 0x01020304u, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
        emit_contact(&fixed[i], counters[i]);
    }
    uint32_t counter = 41u;
    for (int k = 0; k < 34; k++) {
        kmc_wrap_sample s = random_sample();
        if (lcg_range(0, 9) == 0) {
            s.ambient_temp_centi_c = KMC_TEMP_NOT_AVAILABLE;
        }
        counter += (uint32_t)lcg_range(1, 5);
        emit_contact(&s, counter);
    }
}

/* ---------------------------------------------------------------- float */

static const char *special_name(uint32_t raw)
{
    switch (raw) {
    case KMC_FLOAT_NAN:
        return "nan";
    case KMC_FLOAT_NRES:
        return "nres";
    case KMC_FLOAT_POS_INF:
        return "+inf";
    case KMC_FLOAT_NEG_INF:
        return "-inf";
    case KMC_FLOAT_RESERVED:
        return "reserved";
    default:
        return NULL;
    }
}

static void emit_float_raw(uint32_t raw)
{
    int32_t m;
    int8_t e;
    int rc = kmc_float_unpack(raw, &m, &e);
    uint8_t le[4];
    kmc_float_put_le(raw, le);
    printf("{\"kind\":\"float\",\"value\":");
    if (rc == KMC_FLOAT_SPECIAL) {
        const char *name = special_name(raw);
        if (name == NULL) {
            die("unnamed special");
        }
        printf("null,\"special\":\"%s\"", name);
    } else {
        put_decimal(m, e);
        printf(",\"special\":null");
    }
    printf(",\"mantissa\":%" PRId32 ",\"exponent\":%d,\"hex\":\"", m, (int)e);
    put_hex(le, 4);
    printf("\"}\n");
}

static void emit_float(int32_t mantissa, int exponent)
{
    uint32_t raw;
    if (kmc_float_pack(mantissa, (int8_t)exponent, &raw) != KMC_FLOAT_OK) {
        die("kmc_float_pack failed");
    }
    emit_float_raw(raw);
}

static void gen_float(void)
{
    emit_float_raw(KMC_FLOAT_NAN);
    emit_float_raw(KMC_FLOAT_NRES);
    emit_float_raw(KMC_FLOAT_POS_INF);
    emit_float_raw(KMC_FLOAT_NEG_INF);
    emit_float_raw(KMC_FLOAT_RESERVED);
    /* The same through the float encoder. */
    uint32_t raw;
    if (kmc_float_encode(NAN, -2, &raw) != KMC_FLOAT_OK || raw != KMC_FLOAT_NAN) {
        die("NaN");
    }
    emit_float(3760, -2);
    emit_float(376, -1);
    emit_float(37600, -3);
    emit_float(-525, -2);
    emit_float(-1, -128);
    emit_float(1, 127);
    emit_float(15, 2);
    emit_float(0, 0);
    emit_float(0, -2);
    emit_float(8388605, 0);
    emit_float(-8388605, 0);
    emit_float(8388605, -7);
    emit_float(-8388605, -7);
    emit_float(1, -1);
    emit_float(-1, -1);
    for (int k = 0; k < 20; k++) {
        emit_float(lcg_range(-8388605, 8388605), lcg_range(-8, 4));
    }
}

int main(void)
{
    gen_bthome();
    gen_hts();
    gen_contact();
    gen_float();
    return fflush(stdout) == 0 ? 0 : 1;
}
