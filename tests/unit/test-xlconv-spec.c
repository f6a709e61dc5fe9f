/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Disk and vif specifications: the equivalent forms of xl-disk-configuration(5)
 * give the same disk, the deprecated xend forms still parse, options ferry
 * does not model are kept verbatim, and what xl rejects is rejected. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cleanup.h"
#include "util.h"
#include "xlconv.h"

static void disk_ok(const char *spec, struct xlconv_disk *d)
{
    struct ferry_error err = {0};

    if (xlconv_disk_parse(spec, d, &err) < 0)
        fail_msg("'%s': %s", spec, ferry_error_msg(&err));
}

static void disk_bad(const char *spec, const char *want)
{
    struct xlconv_disk d = {0};
    struct ferry_error err = {0};

    assert_int_equal(xlconv_disk_parse(spec, &d, &err), -EINVAL);
    assert_string_equal(err.msg, want);
    assert_null(d.target);
}

/* The four spellings the man page calls equivalent. */
static void test_disk_equivalent_forms(void **state)
{
    const char *forms[] = {
        "/dev/vg/guest-volume,,hda",
        "/dev/vg/guest-volume,raw,hda,rw",
        "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume",
        "raw:/dev/vg/guest-volume,hda,w",
    };
    for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
        struct xlconv_disk d = {0};
        disk_ok(forms[i], &d);
        assert_string_equal(d.target, "/dev/vg/guest-volume");
        assert_string_equal(d.format, "raw");
        assert_string_equal(d.vdev, "hda");
        assert_false(d.readonly);
        assert_false(d.cdrom);
        assert_null(d.extra);
        _cleanup_free_ char *f = xlconv_disk_format(&d);
        assert_string_equal(f, "format=raw, vdev=hda, access=rw, target=/dev/vg/guest-volume");
        xlconv_disk_clear(&d);
    }
}

static void test_disk_cdrom_forms(void **state)
{
    const char *forms[] = {
        "/root/image.iso,,hdc,cdrom",
        "/root/image.iso,,hdc,,cdrom",
        "/root/image.iso,raw,hdc,devtype=cdrom",
        "format=raw, vdev=hdc, access=ro, devtype=cdrom, target=/root/image.iso",
        "raw:/root/image.iso,hdc:cdrom,ro",
    };
    for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
        struct xlconv_disk d = {0};
        disk_ok(forms[i], &d);
        assert_string_equal(d.target, "/root/image.iso");
        assert_string_equal(d.vdev, "hdc");
        assert_true(d.cdrom);
        assert_true(d.readonly);
        xlconv_disk_clear(&d);
    }
}

static void test_disk_empty_cdrom(void **state)
{
    struct xlconv_disk d = {0};

    disk_ok(",hdc:cdrom,r", &d);
    assert_null(d.target);
    assert_string_equal(d.format, "empty");
    assert_true(d.cdrom);
    _cleanup_free_ char *f = xlconv_disk_format(&d);
    assert_string_equal(f, "format=empty, vdev=hdc, access=ro, devtype=cdrom");
    xlconv_disk_clear(&d);
}

static void test_disk_target_with_commas(void **state)
{
    struct xlconv_disk d = {0};

    disk_ok("vdev=xvda, target=/srv/a,b: c.img", &d);
    assert_string_equal(d.target, "/srv/a,b: c.img");
    _cleanup_free_ char *f = xlconv_disk_format(&d);
    struct xlconv_disk back = {0};
    disk_ok(f, &back);
    assert_string_equal(back.target, d.target);
    xlconv_disk_clear(&back);
    xlconv_disk_clear(&d);

    /* One trailing ',' is dropped on reading, as libxl does; a target that
     * still ends in commas is written with one more (found by fuzz-xlcfg). */
    disk_ok("vdev=xvda, target=/srv/a,,,", &d);
    assert_string_equal(d.target, "/srv/a,,");
    _cleanup_free_ char *g = xlconv_disk_format(&d);
    disk_ok(g, &back);
    assert_string_equal(back.target, "/srv/a,,");
    xlconv_disk_clear(&back);
    xlconv_disk_clear(&d);
}

static void test_disk_deprecated_prefixes(void **state)
{
    struct xlconv_disk d = {0};

    disk_ok("tap:aio:/srv/x.img,xvda,r", &d);
    assert_string_equal(d.target, "/srv/x.img");
    assert_true(d.readonly);
    xlconv_disk_clear(&d);

    disk_ok("qcow2:/srv/x.qcow2,xvdb,w", &d);
    assert_string_equal(d.format, "qcow2");
    xlconv_disk_clear(&d);

    disk_ok("drbd:resource0,xvdc,w", &d);
    assert_string_equal(d.target, "resource0");
    assert_string_equal(d.extra, "script=block-drbd");
    xlconv_disk_clear(&d);
}

static void test_disk_kept_options(void **state)
{
    struct xlconv_disk d = {0};

    disk_ok("vdev=xvda, backendtype=qdisk, no-discard, backend=dd, target=/x", &d);
    assert_string_equal(d.backendtype, "qdisk");
    assert_string_equal(d.extra, "no-discard,backend=dd");
    _cleanup_free_ char *f = xlconv_disk_format(&d);
    assert_string_equal(f, "format=raw, vdev=xvda, access=rw, backendtype=qdisk, "
                           "no-discard,backend=dd, target=/x");
    xlconv_disk_clear(&d);
}

static void test_disk_errors(void **state)
{
    disk_bad("/x,raw", "disk spec '/x,raw' has no vdev");
    disk_bad("/dev/vg/x,xvda,w", "unknown disk format 'xvda'");
    disk_bad("/x,raw,xvda,rw,extra", "too many positional parameters ('extra')");
    disk_bad("/x,raw,xvda,maybe", "unknown disk access 'maybe' (ro, r, rw or w)");
    disk_bad("vdev=xvda,vdev=xvdb,target=/x", "disk vdev respecified ('xvdb')");
    disk_bad("vdev=xvda,colour=red,target=/x", "unknown disk parameter 'colour=red'");
    disk_bad("vdev=xvda,devtype=floppy", "unknown disk devtype 'floppy' (cdrom or disk)");
    disk_bad("vdev=xvda,backendtype=vmware", "unknown disk backendtype 'vmware' (phy, tap, "
                                             "qdisk, standalone)");
    disk_bad("weird:/x,xvda,w", "unknown deprecated disk prefix 'weird:'");
    disk_bad("/x,raw,xv/da", "invalid disk vdev 'xv/da': letters and digits only");
}

static void test_vif_forms(void **state)
{
    struct xlconv_vif v = {0};
    struct ferry_error err = {0};

    assert_int_equal(
        xlconv_vif_parse("mac=00:16:3E:74:3d:76,model=rtl8139,bridge=xenbr0", &v, &err), 0);
    assert_string_equal(v.mac, "00:16:3e:74:3d:76");
    assert_string_equal(v.model, "rtl8139");
    assert_string_equal(v.bridge, "xenbr0");
    assert_null(v.extra);
    _cleanup_free_ char *f = xlconv_vif_format(&v);
    assert_string_equal(f, "mac=00:16:3e:74:3d:76,bridge=xenbr0,model=rtl8139");
    xlconv_vif_clear(&v);

    assert_int_equal(xlconv_vif_parse("", &v, &err), 0);
    _cleanup_free_ char *e = xlconv_vif_format(&v);
    assert_string_equal(e, "");
    xlconv_vif_clear(&v);

    assert_int_equal(
        xlconv_vif_parse(" bridge=br0 , rate=10Mb/s@20ms, trusted,ip=1.2.3.4 5.6.7.8", &v, &err),
        0);
    assert_string_equal(v.bridge, "br0");
    assert_string_equal(v.ip, "1.2.3.4 5.6.7.8");
    assert_string_equal(v.extra, "rate=10Mb/s@20ms,trusted");
    xlconv_vif_clear(&v);
}

static void test_vif_errors(void **state)
{
    struct xlconv_vif v = {0};
    struct ferry_error err = {0};

    assert_int_equal(xlconv_vif_parse("bridge=a,bridge=b", &v, &err), -EINVAL);
    assert_string_equal(err.msg, "vif bridge respecified ('b')");
    ferry_error_clear(&err);
    assert_int_equal(xlconv_vif_parse("mac=00:16:3e:00:00", &v, &err), -EINVAL);
    assert_string_equal(err.msg, "invalid vif mac '00:16:3e:00:00' (xx:xx:xx:xx:xx:xx)");
    ferry_error_clear(&err);
    assert_int_equal(xlconv_vif_parse("bridge=a,sparkly", &v, &err), -EINVAL);
    assert_string_equal(err.msg, "unknown vif flag 'sparkly'");
    assert_null(v.bridge);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_equivalent_forms),
        cmocka_unit_test(test_disk_cdrom_forms),
        cmocka_unit_test(test_disk_empty_cdrom),
        cmocka_unit_test(test_disk_target_with_commas),
        cmocka_unit_test(test_disk_deprecated_prefixes),
        cmocka_unit_test(test_disk_kept_options),
        cmocka_unit_test(test_disk_errors),
        cmocka_unit_test(test_vif_forms),
        cmocka_unit_test(test_vif_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
