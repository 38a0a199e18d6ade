/* kmc_contact.c - the "KMC contact" characteristic value. */
#include "kmc_contact.h"

/* 118b434b-4ea7-415a-8edf-dd9cfc4e1027, reversed. */
const uint8_t kmc_contact_service_uuid_le[16] = {
    0x27, 0x10, 0x4e, 0xfc, 0x9c, 0xdd, 0xdf, 0x8e, 0x5a, 0x41, 0xa7, 0x4e, 0x4b, 0x43, 0x8b, 0x11,
};
/* fbfa18c5-f4c9-40d1-8420-f917c28c28e0, reversed. */
const uint8_t kmc_contact_char_uuid_le[16] = {
    0xe0, 0x28, 0x8c, 0xc2, 0x17, 0xf9, 0x20, 0x84, 0xd1, 0x40, 0xc9, 0xf4, 0xc5, 0x18, 0xfa, 0xfb,
};

size_t kmc_contact_build(const kmc_wrap_sample *s, uint32_t counter, uint8_t *out, size_t cap)
{
    if (!kmc_sample_valid(s) || out == NULL || cap < KMC_CONTACT_VALUE_LEN) {
        return 0;
    }
    out[0] = s->contact_level;
    out[1] = s->contact;
    kmc_put_le16(&out[2], (uint16_t)s->ambient_temp_centi_c);
    kmc_put_le32(&out[4], counter);
    return KMC_CONTACT_VALUE_LEN;
}
