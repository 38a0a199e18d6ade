/*
 * kmc_contact.h - the wrap-specific "KMC contact" GATT service (connected mode).
 *
 * Service        118b434b-4ea7-415a-8edf-dd9cfc4e1027
 * Characteristic fbfa18c5-f4c9-40d1-8420-f917c28c28e0  (read, notify)
 *
 * Value, 8 bytes, little-endian:
 *   [0]    contact level   uint8  0..100 %
 *   [1]    contact         uint8  0 / 1
 *   [2..3] ambient temp    sint16 0.01 degC, 0x8000 = not available
 *   [4..7] packet counter  uint32
 */
#ifndef KMC_CONTACT_H
#define KMC_CONTACT_H

#include <stddef.h>
#include <stdint.h>

#include "kmc_wrap.h"

/* For Zephyr: BT_UUID_128_ENCODE(KMC_CONTACT_SERVICE_UUID_PARTS). */
#define KMC_CONTACT_SERVICE_UUID_STR   "118b434b-4ea7-415a-8edf-dd9cfc4e1027"
#define KMC_CONTACT_SERVICE_UUID_PARTS 0x118b434bu, 0x4ea7u, 0x415au, 0x8edfu, 0xdd9cfc4e1027ull
#define KMC_CONTACT_CHAR_UUID_STR      "fbfa18c5-f4c9-40d1-8420-f917c28c28e0"
#define KMC_CONTACT_CHAR_UUID_PARTS    0xfbfa18c5u, 0xf4c9u, 0x40d1u, 0x8420u, 0xf917c28c28e0ull

/* The same UUIDs as the 16 bytes that go on air (least significant byte first). */
extern const uint8_t kmc_contact_service_uuid_le[16];
extern const uint8_t kmc_contact_char_uuid_le[16];

#define KMC_CONTACT_VALUE_LEN 8u

/* Characteristic value from a sample (skin temperature and battery are not
 * part of it). ambient_temp_centi_c == KMC_TEMP_NOT_AVAILABLE sends 0x8000.
 * Returns KMC_CONTACT_VALUE_LEN, or 0 on error. */
size_t kmc_contact_build(const kmc_wrap_sample *s, uint32_t counter, uint8_t *out, size_t cap);

#endif /* KMC_CONTACT_H */
