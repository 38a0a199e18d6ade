/* kmc_bthome.c - BTHome v2 service data (plain and AES-CCM encrypted). */
#include "kmc_bthome.h"

#include <string.h>

#include <mbedtls/ccm.h>
#include <mbedtls/platform_util.h>

size_t kmc_bthome_objects(const kmc_wrap_sample *s, uint8_t packet_id, uint8_t *out, size_t cap)
{
    if (!kmc_sample_valid(s) || out == NULL || cap < KMC_BTHOME_OBJECTS_LEN) {
        return 0;
    }
    uint8_t *p = out;
    *p++ = KMC_BTHOME_OBJ_PACKET_ID;
    *p++ = packet_id;
    *p++ = KMC_BTHOME_OBJ_BATTERY;
    *p++ = s->battery_pct;
    *p++ = KMC_BTHOME_OBJ_TEMPERATURE; /* first 0x02: skin */
    kmc_put_le16(p, (uint16_t)s->skin_temp_centi_c);
    p += 2;
    *p++ = KMC_BTHOME_OBJ_TEMPERATURE; /* second 0x02: ambient */
    kmc_put_le16(p, (uint16_t)s->ambient_temp_centi_c);
    p += 2;
    *p++ = KMC_BTHOME_OBJ_COUNT;
    *p++ = s->contact_level;
    *p++ = KMC_BTHOME_OBJ_PRESENCE;
    *p++ = s->contact;
    return (size_t)(p - out);
}

void kmc_bthome_nonce(const uint8_t mac[6], uint8_t devinfo, uint32_t counter, uint8_t nonce[13])
{
    memcpy(nonce, mac, KMC_BTHOME_MAC_LEN);
    nonce[6] = KMC_BTHOME_UUID16_LO;
    nonce[7] = KMC_BTHOME_UUID16_HI;
    nonce[8] = devinfo;
    kmc_put_le32(&nonce[9], counter);
}

size_t kmc_bthome_seal(const uint8_t *objects, size_t objects_len, const uint8_t key[16],
                       const uint8_t mac[6], uint32_t counter, uint8_t *out, size_t cap)
{
    if (objects == NULL || key == NULL || mac == NULL || out == NULL) {
        return 0;
    }
    if (objects_len < 2u || objects_len > KMC_BTHOME_SEAL_MAX_OBJECTS) {
        return 0;
    }
    const size_t total = 1u + objects_len + KMC_BTHOME_COUNTER_LEN + KMC_BTHOME_MIC_LEN;
    if (cap < total) {
        return 0;
    }
    const uint8_t devinfo = KMC_BTHOME_DEVINFO_V2 | KMC_BTHOME_DEVINFO_ENCRYPTED;
    uint8_t nonce[KMC_BTHOME_NONCE_LEN];
    kmc_bthome_nonce(mac, devinfo, counter, nonce);

    uint8_t *ct = out + 1;
    uint8_t *ctr = ct + objects_len;
    uint8_t *mic = ctr + KMC_BTHOME_COUNTER_LEN;

    mbedtls_ccm_context ccm;
    mbedtls_ccm_init(&ccm);
    int rc = mbedtls_ccm_setkey(&ccm, MBEDTLS_CIPHER_ID_AES, key, 128);
    if (rc == 0) {
        /* No associated data in BTHome v2. */
        rc = mbedtls_ccm_encrypt_and_tag(&ccm, objects_len, nonce, sizeof nonce, NULL, 0, objects, ct,
                                         mic, KMC_BTHOME_MIC_LEN);
    }
    mbedtls_ccm_free(&ccm);
    mbedtls_platform_zeroize(nonce, sizeof nonce);
    if (rc != 0) {
        mbedtls_platform_zeroize(out, total);
        return 0;
    }
    out[0] = devinfo;
    kmc_put_le32(ctr, counter);
    return total;
}

size_t kmc_bthome_build(const kmc_wrap_sample *s, uint8_t packet_id, const uint8_t key[16],
                        const uint8_t mac[6], uint32_t counter, uint8_t *out, size_t cap)
{
    if (out == NULL) {
        return 0;
    }
    if (key == NULL) {
        if (cap < KMC_BTHOME_PLAIN_LEN) {
            return 0;
        }
        out[0] = KMC_BTHOME_DEVINFO_V2;
        size_t n = kmc_bthome_objects(s, packet_id, out + 1, cap - 1u);
        return n == 0 ? 0 : n + 1u;
    }
    if (cap < KMC_BTHOME_ENCRYPTED_LEN) {
        return 0;
    }
    uint8_t objects[KMC_BTHOME_OBJECTS_LEN];
    size_t n = kmc_bthome_objects(s, packet_id, objects, sizeof objects);
    size_t len = n == 0 ? 0 : kmc_bthome_seal(objects, n, key, mac, counter, out, cap);
    mbedtls_platform_zeroize(objects, sizeof objects);
    return len;
}

size_t kmc_bthome_svc_data16(const uint8_t *service_data, size_t len, uint8_t *out, size_t cap)
{
    if (service_data == NULL || out == NULL || len == 0u || cap < len + 2u) {
        return 0;
    }
    memmove(out + 2, service_data, len); /* tolerate service_data == out */
    out[0] = KMC_BTHOME_UUID16_LO;
    out[1] = KMC_BTHOME_UUID16_HI;
    return len + 2u;
}
