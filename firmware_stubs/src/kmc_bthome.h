/*
 * kmc_bthome.h - BTHome v2 service data of a kmc-monitor wrap (passive mode).
 *
 * The functions build the *service data* of the AD element "Service Data -
 * 16-bit UUID" (AD type 0x16) for UUID 0xFCD2, starting with the BTHome
 * device-information byte (the UUID bytes D2 FC are not included; use
 * kmc_bthome_svc_data16() to prepend them, as Zephyr's BT_DATA_SVC_DATA16
 * expects). Layout: see ../PROTOCOL.md section 2.
 */
#ifndef KMC_BTHOME_H
#define KMC_BTHOME_H

#include <stddef.h>
#include <stdint.h>

#include "kmc_wrap.h"

#define KMC_BTHOME_UUID16           0xFCD2u
#define KMC_BTHOME_UUID16_LO        0xD2u /* first byte on air */
#define KMC_BTHOME_UUID16_HI        0xFCu
#define KMC_BTHOME_AD_TYPE_SVC16    0x16u

/* Device-information byte. */
#define KMC_BTHOME_DEVINFO_ENCRYPTED 0x01u /* bit 0 */
#define KMC_BTHOME_DEVINFO_TRIGGER   0x04u /* bit 2, never set by wraps */
#define KMC_BTHOME_DEVINFO_V2        0x40u /* version 2 in bits 5..7 */

/* Object ids (BTHome v2 object table), in the order the wrap sends them. */
#define KMC_BTHOME_OBJ_PACKET_ID   0x00u /* uint8 */
#define KMC_BTHOME_OBJ_BATTERY     0x01u /* uint8, 1 % */
#define KMC_BTHOME_OBJ_TEMPERATURE 0x02u /* sint16, 0.01 degC; 1st = skin, 2nd = ambient */
#define KMC_BTHOME_OBJ_COUNT       0x09u /* uint8; the wrap's skin-contact level 0..100 */
#define KMC_BTHOME_OBJ_PRESENCE    0x25u /* uint8 0/1; the wrap's binary skin contact */

#define KMC_BTHOME_KEY_LEN     16u
#define KMC_BTHOME_MAC_LEN     6u
#define KMC_BTHOME_NONCE_LEN   13u
#define KMC_BTHOME_COUNTER_LEN 4u
#define KMC_BTHOME_MIC_LEN     4u

/* Object bytes of one wrap sample: 2 + 2 + 3 + 3 + 2 + 2. */
#define KMC_BTHOME_OBJECTS_LEN   14u
#define KMC_BTHOME_PLAIN_LEN     (1u + KMC_BTHOME_OBJECTS_LEN) /* 15 */
#define KMC_BTHOME_ENCRYPTED_LEN \
    (1u + KMC_BTHOME_OBJECTS_LEN + KMC_BTHOME_COUNTER_LEN + KMC_BTHOME_MIC_LEN) /* 23 */
#define KMC_BTHOME_MAX_LEN       KMC_BTHOME_ENCRYPTED_LEN

/* Largest object block kmc_bthome_seal() accepts: what fits a legacy (31-byte)
 * advertisement next to the Flags element (3) and the AD header + UUID (4),
 * minus device-info byte, counter and MIC. */
#define KMC_BTHOME_SEAL_MAX_OBJECTS (31u - 3u - 4u - 1u - KMC_BTHOME_COUNTER_LEN - KMC_BTHOME_MIC_LEN)

/* The BTHome objects of a sample (no device-info byte), in the fixed wrap
 * order. Returns KMC_BTHOME_OBJECTS_LEN, or 0 if s is NULL/out of range or
 * cap is too small. */
size_t kmc_bthome_objects(const kmc_wrap_sample *s, uint8_t packet_id, uint8_t *out, size_t cap);

/* The 13-byte AES-CCM nonce: mac[6] (as written, most significant byte first)
 * | D2 FC | devinfo | counter (uint32 LE). */
void kmc_bthome_nonce(const uint8_t mac[6], uint8_t devinfo, uint32_t counter, uint8_t nonce[13]);

/* Encrypt an arbitrary block of BTHome objects (lower-level; used by
 * kmc_bthome_build and by the published-vector test). Writes
 *   0x41 | AES-CCM ciphertext | counter (uint32 LE) | 4-byte MIC
 * and returns 1 + objects_len + 8, or 0 on error (NULL argument, objects_len
 * < 2 or > KMC_BTHOME_SEAL_MAX_OBJECTS, cap too small, crypto failure).
 * objects and out must not overlap. */
size_t kmc_bthome_seal(const uint8_t *objects, size_t objects_len, const uint8_t key[16],
                       const uint8_t mac[6], uint32_t counter, uint8_t *out, size_t cap);

/* Service data of one wrap sample. key == NULL: plain (0x40 | objects; mac and
 * counter are ignored, mac may be NULL). key != NULL: encrypted (mac required;
 * counter must be greater than the previous advertisement's). Returns
 * KMC_BTHOME_PLAIN_LEN / KMC_BTHOME_ENCRYPTED_LEN, or 0 on error. */
size_t kmc_bthome_build(const kmc_wrap_sample *s, uint8_t packet_id, const uint8_t key[16],
                        const uint8_t mac[6], uint32_t counter, uint8_t *out, size_t cap);

/* Prepend the UUID bytes D2 FC to service data (the value Zephyr's
 * BT_DATA(BT_DATA_SVC_DATA16, buf, len) takes). Returns len + 2 or 0. */
size_t kmc_bthome_svc_data16(const uint8_t *service_data, size_t len, uint8_t *out, size_t cap);

#endif /* KMC_BTHOME_H */
