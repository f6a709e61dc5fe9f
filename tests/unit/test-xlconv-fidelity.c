/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Issue 20, item by item and in both directions: what xl.cfg says survives
 * the conversion to domain XML (in libvirt's xen-xl shapes) and back, or is
 * refused naming the file, line, column and key; and libvirt-shaped XML
 * converts to the xl.cfg that means the same. */
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

#define HVM "name = \"g\"\ntype = \"hvm\"\nmemory = 512\n"

static char *cfg2xml(const char *text)
{
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    if (xlconv_xlcfg_parse(text, strlen(text), "t.cfg", &cfg, &err) < 0)
        fail_msg("refused: %s\n%s", err.msg, text);
    return xlconv_config_to_xml(cfg);
}

static void cfg_refused(const char *text, const char *want)
{
    struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    assert_int_equal(xlconv_xlcfg_parse(text, strlen(text), "t.cfg", &cfg, &err), -EINVAL);
    assert_null(cfg);
    assert_string_equal(err.msg, want);
}

/* xl.cfg for XML, with NOTES (may be NULL) getting the notes joined. */
static char *xml2cfg_notes(const char *xml, char **notes)
{
    _cleanup_(xlconv_config_freep) struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    if (xlconv_config_from_xml(xml, strlen(xml), &cfg, &err) < 0)
        fail_msg("refused: %s\n%s", err.msg, xml);
    if (notes) {
        *notes = ferry_strdup("");
        for (size_t i = 0; i < cfg->n_notes; i++) {
            char *n = ferry_strdup_printf("%s%s\n", *notes, cfg->notes[i]);
            free(*notes);
            *notes = n;
        }
    }
    return xlconv_config_format_xlcfg(cfg);
}

static char *xml2cfg(const char *xml)
{
    return xml2cfg_notes(xml, NULL);
}

static void xml_refused(const char *xml, const char *needle)
{
    struct xlconv_config *cfg = NULL;
    struct ferry_error err = {0};

    assert_int_equal(xlconv_config_from_xml(xml, strlen(xml), &cfg, &err), -EINVAL);
    assert_null(cfg);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' does not contain '%s'", err.msg, needle);
}

static void has(const char *hay, const char *needle)
{
    if (!strstr(hay, needle))
        fail_msg("missing:\n%s\nin:\n%s", needle, hay);
}

static void lacks(const char *hay, const char *needle)
{
    if (strstr(hay, needle))
        fail_msg("unexpected:\n%s\nin:\n%s", needle, hay);
}

#define DOM_HVM(devices)                                                                           \
    "<domain type='xen'><name>g</name><memory>524288</memory><os><type>hvm</type></os>"            \
    "<devices>" devices "</devices></domain>"
#define DOM_HVM_OS(os, devices)                                                                    \
    "<domain type='xen'><name>g</name><memory>524288</memory><os><type>hvm</type>" os "</os>"      \
    "<devices>" devices "</devices></domain>"

/* --- network-backed disks --- */

static void test_rbd_to_xml(void **state)
{
    _cleanup_free_ char *xml = cfg2xml(
        HVM "disk = [ 'format=raw,vdev=hdb,access=rw,backendtype=qdisk,target=rbd:pool/image:"
            "auth_supported=none:mon_host=mon1.example.org\\\\:6321\\\\;mon2.example.org' ]\n");

    has(xml, "    <disk type=\"network\" device=\"disk\">\n"
             "      <driver name=\"qemu\" type=\"raw\"/>\n"
             "      <source protocol=\"rbd\" name=\"pool/image\">\n"
             "        <host name=\"mon1.example.org\" port=\"6321\"/>\n"
             "        <host name=\"mon2.example.org\"/>\n"
             "      </source>\n"
             "      <target dev=\"hdb\" bus=\"ide\"/>\n");
    lacks(xml, "<metadata>"); /* auth_supported=none is what no <auth> means */
    lacks(xml, "file=");
}

static void test_rbd_from_xml(void **state)
{
    /* libvirt's shape, several monitors, a snapshot, IPv6 bare. */
    _cleanup_free_ char *cfg = xml2cfg(
        DOM_HVM("<disk type='network' device='disk'><driver name='qemu' type='raw'/>"
                "<source protocol='rbd' name='pool/image'><snapshot name='s1'/>"
                "<host name='mon1.example.org' port='6321'/><host name='2001:db8::1' port='6789'/>"
                "</source><target dev='hdb' bus='ide'/></disk>"));

    has(cfg, "\"format=raw, vdev=hdb, access=rw, backendtype=qdisk, target=rbd:pool/image@s1:"
             "auth_supported=none:mon_host=mon1.example.org\\\\:6321\\\\;[2001\\\\:db8\\\\:\\\\:1]"
             "\\\\:6789\" ]");
}

static void test_rbd_options_kept(void **state)
{
    const char *text = HVM "disk = [ 'vdev=xvdb,target=rbd:p/i:id=admin:mon_host=m1' ]\n";
    _cleanup_free_ char *xml = cfg2xml(text);

    has(xml, "<ferry:rbd dev=\"xvdb\">id=admin</ferry:rbd>");
    _cleanup_free_ char *back = xml2cfg(xml);
    has(back, "target=rbd:p/i:id=admin:mon_host=m1\"");
    /* The kept options cannot smuggle a second monitor list. */
    xml_refused("<domain type='xen'><name>g</name><memory>524288</memory><devices>"
                "<disk type='network'><source protocol='rbd' name='p/i'><host name='m1'/>"
                "</source><target dev='xvdb'/></disk></devices><metadata><ferry:xl "
                "xmlns:ferry='urn:ferry:xen-xl:1'><ferry:rbd dev='xvdb'>mon_host=evil</ferry:rbd>"
                "</ferry:xl></metadata></domain>",
                "rbd: mon_host given twice");
}

static void test_network_disk_refusals(void **state)
{
    cfg_refused(HVM "disk = [ 'format=raw,vdev=xvdb,script=block-iscsi,"
                    "target=iqn=iqn.2001-05.com.example:t0,portal=10.0.0.1:3260' ]\n",
                "t.cfg:4:10: disk: disk 'xvdb': script=block-iscsi: the target is interpreted "
                "by a hotplug script; domain XML has no equivalent");
    cfg_refused(HVM
                "disk = [\n  '/x.img,raw,hda,rw',\n  'iscsi:iqn.2001-05.com.example:t0,xvdi,w' ]\n",
                "t.cfg:6:3: disk: disk 'xvdi': script=block-iscsi: the target is interpreted by "
                "a hotplug script; domain XML has no equivalent");
    cfg_refused(HVM "disk = [ 'drbd:resource0,xvdc,w' ]\n",
                "t.cfg:4:10: disk: disk 'xvdc': script=block-drbd: the target is interpreted by a "
                "hotplug script; domain XML has no equivalent");
    cfg_refused(HVM "disk = [ 'vdev=xvdb,backendtype=qdisk,target=nbd:10.0.0.1:10809' ]\n",
                "t.cfg:4:10: disk: disk 'xvdb': target 'nbd:10.0.0.1:10809' is a 'nbd' network "
                "URI, not a file; only rbd: targets have a domain XML form");
    cfg_refused(HVM "disk = [ 'vdev=xvdb,target=gluster+tcp://h/v/img' ]\n",
                "t.cfg:4:10: disk: disk 'xvdb': target 'gluster+tcp://h/v/img' is a "
                "'gluster+tcp' network URI, not a file; only rbd: targets have a domain XML form");
    cfg_refused(HVM "disk = [ 'vdev=xvdb,target=rbd:p/i:mon_host=a:mon_host=b' ]\n",
                "t.cfg:4:10: disk: disk 'xvdb': rbd: mon_host given twice");
    /* A ',' (escaped in the target) in a monitor's name would end the
     * target when the disk is written back (found by fuzz-xlcfg). */
    cfg_refused(HVM "disk = [ 'vdev=xvdb,target=rbd:p/i:mon_host=m1\\\\,x' ]\n",
                "t.cfg:4:10: disk: disk 'xvdb': rbd: mon_host 'm1,x': not a host name or "
                "address");
    cfg_refused(HVM "disk = [ 'vdev=xvdb,target=rbd::mon_host=a' ]\n",
                "t.cfg:4:10: disk: disk 'xvdb': rbd: target 'rbd::mon_host=a' has no valid "
                "POOL/IMAGE");
    /* XML side: protocols without an xl form, and rbd details xl.cfg lacks. */
    xml_refused(DOM_HVM("<disk type='network'><source protocol='iscsi' name='iqn.x/1'>"
                        "<host name='h'/></source><target dev='xvdb'/></disk>"),
                "network protocol 'iscsi' has no xl.cfg equivalent (only rbd)");
    xml_refused(DOM_HVM("<disk type='network'><source protocol='rbd' name='p/i'>"
                        "<auth username='admin'/></source><target dev='xvdb'/></disk>"),
                "<source><auth> has no xl.cfg equivalent");
    xml_refused(DOM_HVM("<disk type='network'><target dev='xvdb'/></disk>"),
                "network disk 'xvdb' without <source protocol='rbd'>");
    xml_refused(DOM_HVM("<disk type='volume'><source pool='p' volume='v'/>"
                        "<target dev='xvdb'/></disk>"),
                "disk type 'volume' has no xl.cfg equivalent");
    /* A file disk whose "path" is a URI, and script= smuggled as an option. */
    xml_refused(DOM_HVM("<disk type='file'><source file='nbd:h:10809'/><target dev='xvdb'/>"
                        "</disk>"),
                "is a 'nbd' network URI, not a file");
    xml_refused("<domain type='xen'><name>g</name><memory>524288</memory><devices>"
                "<disk type='file'><source file='/x'/><target dev='xvdb'/></disk></devices>"
                "<metadata><ferry:xl xmlns:ferry='urn:ferry:xen-xl:1'>"
                "<ferry:disk dev='xvdb'>script=block-nbd</ferry:disk></ferry:xl></metadata>"
                "</domain>",
                "script=block-nbd: the target is interpreted by a hotplug script");
}

/* --- UEFI --- */

static void test_ovmf(void **state)
{
    _cleanup_free_ char *xml = cfg2xml(HVM "bios = \"ovmf\"\n");
    has(xml, "<os>\n    <type machine=\"xenfv\">hvm</type>\n"
             "    <loader readonly=\"yes\" type=\"pflash\"/>\n  </os>");
    _cleanup_free_ char *xml2 =
        cfg2xml(HVM "bios = 'ovmf'\nbios_path_override = '/usr/share/OVMF/OVMF_CODE.fd'\n");
    has(xml2, "<loader readonly=\"yes\" type=\"pflash\">/usr/share/OVMF/OVMF_CODE.fd</loader>");

    _cleanup_free_ char *cfg = xml2cfg(
        DOM_HVM_OS("<loader readonly='yes' type='pflash'>/usr/lib/xen/boot/ovmf.bin</loader>", ""));
    has(cfg, "bios = \"ovmf\"\nbios_path_override = \"/usr/lib/xen/boot/ovmf.bin\"\n");
    _cleanup_free_ char *cfg2 = xml2cfg(DOM_HVM_OS("<loader type='pflash'/>", ""));
    has(cfg2, "bios = \"ovmf\"\n");
    lacks(cfg2, "bios_path_override");
    /* libvirt writes hvmloader as the loader of every HVM guest: xl's default. */
    _cleanup_free_ char *notes = NULL;
    _cleanup_free_ char *cfg3 = xml2cfg_notes(
        DOM_HVM_OS("<loader type='rom'>/usr/lib/xen/boot/hvmloader</loader>", ""), &notes);
    lacks(cfg3, "bios");
    has(notes, "xl's default hvmloader");
    /* Other BIOS choices stay kept keys, both directions. */
    _cleanup_free_ char *sea = cfg2xml(HVM "bios = \"seabios\"\n");
    has(sea, "<ferry:key name=\"bios\">\"seabios\"</ferry:key>");
    lacks(sea, "<loader");
}

static void test_ovmf_refusals(void **state)
{
    cfg_refused("name = 'g'\ntype = 'pv'\nkernel = '/k'\nbios = 'ovmf'\n",
                "t.cfg:4:8: bios: firmware is chosen only for type='hvm' guests (xl ignores it "
                "for pv)");
    cfg_refused(HVM "bios = 'ovmf'\nbios_path_override = 'ovmf.bin'\n",
                "t.cfg:5:22: bios_path_override: 'ovmf.bin' is not an absolute path");
    xml_refused(DOM_HVM_OS("<loader type='pflash' readonly='no'>/x.fd</loader>", ""),
                "xl's OVMF is read-only");
    xml_refused(DOM_HVM_OS("<loader type='pflash' secure='yes'>/x.fd</loader>", ""),
                "<loader secure='yes'> has no xl.cfg equivalent");
    xml_refused(DOM_HVM_OS("<loader type='rom'>/my/seabios.bin</loader>", ""),
                "only xl's own hvmloader");
    xml_refused(DOM_HVM_OS("<loader type='pflash'/><nvram>/var/lib/x_VARS.fd</nvram>", ""),
                "<os><nvram> has no xl.cfg equivalent");
    xml_refused("<domain type='xen'><name>g</name><memory>524288</memory><os><type>linux</type>"
                "<loader type='pflash'/></os></domain>",
                "<loader type='pflash'> is only for <os><type>hvm</type> guests");
    /* A kept bios key may not contradict the loader. */
    xml_refused("<domain type='xen'><name>g</name><memory>524288</memory><os><type>hvm</type>"
                "<loader type='pflash'/></os><metadata><ferry:xl "
                "xmlns:ferry='urn:ferry:xen-xl:1'><ferry:key name='bios'>\"seabios\"</ferry:key>"
                "</ferry:xl></metadata></domain>",
                "<ferry:key name='bios'>: this key is converted");
}

/* --- SPICE --- */

static void test_spice(void **state)
{
    _cleanup_free_ char *xml =
        cfg2xml(HVM "spice = 1\nspicehost = '0.0.0.0'\nspiceport = 590\nspicetls_port = 500\n"
                    "spicedisable_ticketing = 0\nspicepasswd = 'thebeast'\nspiceagent_mouse = 1\n"
                    "spicevdagent = 1\nspice_clipboard_sharing = 1\n");
    has(xml, "<graphics type=\"spice\" port=\"590\" tlsPort=\"500\" autoport=\"no\" "
             "listen=\"0.0.0.0\" passwd=\"thebeast\">\n"
             "      <mouse mode=\"client\"/>\n"
             "      <clipboard copypaste=\"yes\"/>\n"
             "    </graphics>\n"
             "    <channel type=\"spicevmc\">\n"
             "      <target type=\"virtio\" name=\"com.redhat.spice.0\"/>\n"
             "    </channel>");
    lacks(xml, "<metadata>");

    /* libvirt's test-spice-features shape (listen as a child). */
    _cleanup_free_ char *cfg = xml2cfg(
        DOM_HVM("<graphics type='spice' port='590' tlsPort='500' autoport='no' passwd='thebeast'>"
                "<listen type='address' address='127.0.0.1'/><mouse mode='server'/>"
                "<clipboard copypaste='no'/><image compression='lz'/><streaming mode='off'/>"
                "</graphics>"));
    has(cfg, "spice = 1\nspicehost = \"127.0.0.1\"\nspiceport = 590\nspicetls_port = 500\n"
             "spicedisable_ticketing = 0\nspicepasswd = \"thebeast\"\nspiceagent_mouse = 0\n"
             "spice_clipboard_sharing = 0\nspice_image_compression = \"lz\"\n"
             "spice_streaming_video = \"off\"\n");
    lacks(cfg, "spicevdagent");
    /* No password: ticketing off, said explicitly (xl's default is on). */
    _cleanup_free_ char *open_ = xml2cfg(DOM_HVM("<graphics type='spice' port='5900'/>"));
    has(open_, "spice = 1\nspiceport = 5900\nspicedisable_ticketing = 1\n");
    /* spice = 0 keeps every spice key verbatim, as vnc = 0 does. */
    _cleanup_free_ char *off = cfg2xml(HVM "spice = 0\nspiceport = 590\n");
    lacks(off, "<graphics");
    has(off, "<ferry:key name=\"spiceport\">590</ferry:key>");
    /* A switch spelled "00" is 0: kept as 0, which the XML's reader takes
     * (found by fuzz-xlcfg: the XML of "vnc = 00" did not read back). */
    _cleanup_free_ char *zeros = cfg2xml(HVM "spice = 00\nvnc = 00\nvncdisplay = 1\n");
    has(zeros, "<ferry:key name=\"spice\">0</ferry:key>");
    has(zeros, "<ferry:key name=\"vnc\">0</ferry:key>");
    _cleanup_(xlconv_config_freep) struct xlconv_config *back = NULL;
    struct ferry_error err = {0};
    if (xlconv_config_from_xml(zeros, strlen(zeros), &back, &err) < 0)
        fail_msg("the XML did not read back: %s\n%s", err.msg, zeros);
}

static void test_spice_refusals(void **state)
{
    cfg_refused(HVM "spice = 1\nspicedisable_ticketing = 1\n",
                "t.cfg:4:9: spice: spice = 1 needs spiceport or spicetls_port (xl refuses it "
                "without)");
    cfg_refused(HVM "spice = 1\nspiceport = 590\n",
                "t.cfg:4:9: spice: SPICE ticketing is on (spicedisable_ticketing is not 1) but "
                "spicepasswd is not set (xl refuses it)");
    cfg_refused(HVM "spice = 1\nspiceport = 590\nspicedisable_ticketing = 1\nspicepasswd = 'x'\n",
                "t.cfg:7:15: spicepasswd: unused with spicedisable_ticketing = 1; domain XML "
                "cannot keep a password that is not asked for");
    cfg_refused(HVM "spice = 1\nspiceport = 590\nspicedisable_ticketing = 1\n"
                    "spice_clipboard_sharing = 1\n",
                "t.cfg:7:27: spice_clipboard_sharing: needs spicevdagent = 1 (xl.cfg(5))");
    cfg_refused(HVM "spice = 1\nspiceport = 590\nspicedisable_ticketing = 1\n"
                    "spice_image_compression = 'jpeg'\n",
                "t.cfg:7:27: spice_image_compression: unknown value 'jpeg'");
    cfg_refused("name = 'g'\nkernel = '/k'\nspice = 1\nspiceport = 5\n"
                "spicedisable_ticketing = 1\n",
                "t.cfg:3:9: spice: SPICE is only for type='hvm' guests (xl ignores it for pv)");
    xml_refused(DOM_HVM("<graphics type='spice' autoport='yes'/>"),
                "SPICE <graphics> without port or tlsPort");
    xml_refused(DOM_HVM("<graphics type='spice' port='5900' autoport='yes'/>"),
                "SPICE <graphics autoport='yes'>");
    xml_refused(DOM_HVM("<graphics type='spice' port='5900'><channel name='main' mode='secure'/>"
                        "</graphics>"),
                "<graphics type='spice'><channel> has no xl.cfg equivalent");
    xml_refused(DOM_HVM("<graphics type='spice' port='5900'><clipboard copypaste='yes'/>"
                        "</graphics>"),
                "needs the SPICE agent <channel type='spicevmc'>");
    xml_refused(DOM_HVM("<channel type='spicevmc'><target type='virtio' "
                        "name='com.redhat.spice.0'/></channel>"),
                "the SPICE agent <channel> without SPICE <graphics>");
    xml_refused("<domain type='xen'><name>g</name><memory>524288</memory><os><type>linux</type>"
                "</os><devices><graphics type='spice' port='5900'/></devices></domain>",
                "SPICE <graphics> is only for <os><type>hvm</type> guests");
}

/* --- Open vSwitch VLANs --- */

static void test_ovs_vlan(void **state)
{
    _cleanup_free_ char *xml = cfg2xml(HVM "vif = [ 'bridge=ovsbr0.42', "
                                           "'bridge=ovsbr0:42:43,script=vif-openvswitch' ]\n");
    has(xml, "<source bridge=\"ovsbr0\"/>\n      <vlan>\n        <tag id=\"42\"/>\n"
             "      </vlan>\n      <virtualport type=\"openvswitch\"/>\n    </interface>");
    has(xml, "<source bridge=\"ovsbr0\"/>\n      <vlan trunk=\"yes\">\n        <tag id=\"42\"/>\n"
             "        <tag id=\"43\"/>\n      </vlan>\n      <virtualport type=\"openvswitch\"/>\n"
             "      <script path=\"vif-openvswitch\"/>");
    lacks(xml, "ovsbr0.42");

    /* libvirt's test-fullvirt-ovswitch shapes back to the bridge syntax. */
    _cleanup_free_ char *cfg = xml2cfg(DOM_HVM(
        "<interface type='bridge'><mac address='00:16:3e:66:92:9c'/><source bridge='ovsbr0'/>"
        "<vlan trunk='yes'><tag id='42'/><tag id='43'/></vlan><virtualport type='openvswitch'/>"
        "<script path='vif-openvswitch'/><model type='e1000'/></interface>"
        "<interface type='bridge'><source bridge='ovsbr0'/><vlan><tag id='42'/></vlan>"
        "<virtualport type='openvswitch'/></interface>"));
    has(cfg, "\"mac=00:16:3e:66:92:9c,bridge=ovsbr0:42:43,model=e1000,script=vif-openvswitch\"");
    has(cfg, "\"bridge=ovsbr0.42\"");
    /* With another script the dot is part of a Linux bridge's name. */
    _cleanup_free_ char *lin = cfg2xml(HVM "vif = [ 'bridge=br0.100,script=vif-bridge' ]\n");
    has(lin, "<source bridge=\"br0.100\"/>");
    lacks(lin, "<vlan");
    lacks(lin, "openvswitch");
    /* An OVS port without a tag: only the script can say it in xl.cfg. */
    _cleanup_free_ char *notes = NULL;
    _cleanup_free_ char *plain =
        xml2cfg_notes(DOM_HVM("<interface type='bridge'><source bridge='ovsbr0'/>"
                              "<virtualport type='openvswitch'/></interface>"),
                      &notes);
    has(plain, "\"bridge=ovsbr0,script=vif-openvswitch\"");
    has(notes, "written as script=vif-openvswitch");
}

static void test_ovs_refusals(void **state)
{
    cfg_refused(HVM "vif = [ 'bridge=ovsbr0.42:43' ]\n",
                "t.cfg:4:9: vif: vif bridge 'ovsbr0.42:43': an access tag together with trunk "
                "VLANs has no domain XML equivalent");
    cfg_refused(HVM "vif = [ 'bridge=ovsbr0.4096,script=vif-openvswitch' ]\n",
                "t.cfg:4:9: vif: vif bridge 'ovsbr0.4096' is not NAME[.TAG] or "
                "NAME:TAG[:TAG]... (vif-openvswitch; tags 0-4095)");
    xml_refused(DOM_HVM("<interface type='bridge'><source bridge='br0'/><vlan><tag id='5'/>"
                        "</vlan></interface>"),
                "<vlan> without <virtualport type='openvswitch'>");
    xml_refused(DOM_HVM("<interface type='bridge'><source bridge='br0'/><vlan><tag id='5'/>"
                        "</vlan><virtualport type='openvswitch'/><script path='vif-bridge'/>"
                        "</interface>"),
                "xl uses the script, not Open vSwitch");
    xml_refused(DOM_HVM("<interface type='bridge'><source bridge='ovsbr0.7'/><vlan><tag id='5'/>"
                        "</vlan><virtualport type='openvswitch'/></interface>"),
                "needs a <source bridge> without '.' or ':'");
    xml_refused(DOM_HVM("<interface type='bridge'><source bridge='br0'/><vlan>"
                        "<tag id='5' nativeMode='untagged'/></vlan>"
                        "<virtualport type='openvswitch'/></interface>"),
                "only <tag id=...> has an xl.cfg equivalent");
    xml_refused(DOM_HVM("<interface type='bridge'><source bridge='br0'/>"
                        "<virtualport type='openvswitch'><parameters interfaceid='x'/>"
                        "</virtualport></interface>"),
                "type='openvswitch' without parameters");
    xml_refused(DOM_HVM("<interface type='bridge'><source bridge='br0'/>"
                        "<virtualport type='802.1Qbh'/></interface>"),
                "<virtualport>");
}

/* --- netfront, IP lists --- */

static void test_netfront(void **state)
{
    _cleanup_free_ char *xml = cfg2xml(HVM "vif = [ 'bridge=xenbr1,type=vif' ]\n");
    has(xml, "<model type=\"netfront\"/>");
    lacks(xml, "type=vif");
    _cleanup_free_ char *cfg = xml2cfg(DOM_HVM("<interface type='bridge'><source bridge='xenbr1'/>"
                                               "<model type='netfront'/></interface>"));
    has(cfg, "\"bridge=xenbr1,type=vif\"");
    lacks(cfg, "model=");
    cfg_refused(HVM "vif = [ 'bridge=b,type=vif,model=e1000' ]\n",
                "t.cfg:4:9: vif: vif type=vif (PV only) and model=e1000 (an emulated NIC) "
                "contradict");
    cfg_refused(HVM "vif = [ 'bridge=b,model=netfront' ]\n",
                "t.cfg:4:9: vif: vif model 'netfront' is not an emulated NIC: xl.cfg says "
                "type=vif");
}

static void test_ip_list(void **state)
{
    _cleanup_free_ char *xml = cfg2xml(HVM "vif = [ 'bridge=b,ip=10.0.0.1 10.1.1.1 2000::1' ]\n");
    has(xml, "<ip address=\"10.0.0.1\"/>\n      <ip address=\"10.1.1.1\"/>\n"
             "      <ip address=\"2000::1\"/>");
    lacks(xml, "10.0.0.1 10.1.1.1");
    _cleanup_free_ char *cfg =
        xml2cfg(DOM_HVM("<interface type='bridge'><source bridge='b'/><ip address='10.0.0.1'/>"
                        "<ip address='10.1.1.1' prefix='24'/><ip address='2000::1'/></interface>"));
    has(cfg, "\"bridge=b,ip=10.0.0.1 10.1.1.1/24 2000::1\"");
    cfg_refused(HVM "vif = [ 'bridge=b,ip=10.0.0.1 example.org' ]\n",
                "t.cfg:4:9: vif: vif ip 'example.org' is not an IP address[/PREFIX]");
    xml_refused(DOM_HVM("<interface type='bridge'><source bridge='b'/>"
                        "<ip address='10.0.0.1 10.0.0.2'/></interface>"),
                "<ip address='10.0.0.1 10.0.0.2'> is not an IP address");
    xml_refused(DOM_HVM("<interface type='bridge'><source bridge='b'/>"
                        "<ip address='10.0.0.1' peer='10.0.0.2'/></interface>"),
                "<ip peer=...> has no xl.cfg equivalent");
}

/* --- HVM CD-ROM: libvirt's shape, so define and libvirt both read it --- */

static void test_cdrom_shape(void **state)
{
    _cleanup_free_ char *xml = cfg2xml(HVM "disk = [ '/iso/x.iso,,hdc,cdrom', ',hdd:cdrom,r' ]\n");
    has(xml, "    <disk type=\"file\" device=\"cdrom\">\n"
             "      <driver type=\"raw\"/>\n"
             "      <source file=\"/iso/x.iso\"/>\n"
             "      <target dev=\"hdc\" bus=\"ide\"/>\n"
             "      <readonly/>\n"
             "    </disk>\n"
             "    <disk type=\"file\" device=\"cdrom\">\n"
             "      <target dev=\"hdd\" bus=\"ide\"/>\n"
             "      <readonly/>\n"
             "    </disk>");
}

/* What test-xlconv-mutate found: XML whose parts contradict, or that a
 * second copy of an element would silently overrule, is refused. */
static void test_xml_contradictions(void **state)
{
    xml_refused("<domain type='xen'><name>g</name><memory>524288</memory>"
                "<os><type machine='xenpv'>hvm</type></os></domain>",
                "<os><type machine='xenpv'>hvm</type>: the machine names another guest type");
    xml_refused(DOM_HVM("<disk><source file='/x'/><target dev='xvda' bus='ide'/></disk>"),
                "disk 'xvda' on bus 'ide': xl derives the bus from the name ('xvda' is xen)");
    xml_refused(DOM_HVM("<interface type='ethernet'><source bridge='br0'/></interface>"),
                "interface type='ethernet' with <source bridge>");
    xml_refused(DOM_HVM("<disk><driver type='raw'/><driver type='qcow2'/><source file='/x'/>"
                        "<target dev='xvda'/></disk>"),
                "<disk><driver> given 2 times");
    xml_refused("<domain type='xen'><name>g</name><name>h</name><memory>524288</memory>"
                "</domain>",
                "<domain><name> given 2 times");
    xml_refused(DOM_HVM("<interface type='bridge'><mac address='00:16:3e:00:00:01'/>"
                        "<mac address='00:16:3e:00:00:02'/><source bridge='b'/></interface>"),
                "<interface><mac> given 2 times");
    xml_refused(DOM_HVM("<disk type='network'><source protocol='rbd' name='p/i'><snapshot/>"
                        "</source><target dev='xvda'/></disk>"),
                "<snapshot> needs name=");
    /* Kept keys may not switch on what the XML does not have. */
#define KEPT(k, v)                                                                                 \
    "<domain type='xen'><name>g</name><memory>524288</memory><os><type>hvm</type></os>"            \
    "<metadata><ferry:xl xmlns:ferry='urn:ferry:xen-xl:1'><ferry:key name='" k "'>" v              \
    "</ferry:key></ferry:xl></metadata></domain>"
    xml_refused(KEPT("vnclisten", "\"0.0.0.0\""),
                "<ferry:key name='vnclisten'> without <ferry:key name='vnc'>0</ferry:key>");
    xml_refused(KEPT("vnc", "1"), "<ferry:key name='vnc'> may only be 0");
    xml_refused(KEPT("spice", "1"), "<ferry:key name='spice'> may only be 0");
    xml_refused(KEPT("bios", "\"ovmf\""), "UEFI is <loader type='pflash'>");
#undef KEPT
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rbd_to_xml),
        cmocka_unit_test(test_rbd_from_xml),
        cmocka_unit_test(test_rbd_options_kept),
        cmocka_unit_test(test_network_disk_refusals),
        cmocka_unit_test(test_ovmf),
        cmocka_unit_test(test_ovmf_refusals),
        cmocka_unit_test(test_spice),
        cmocka_unit_test(test_spice_refusals),
        cmocka_unit_test(test_ovs_vlan),
        cmocka_unit_test(test_ovs_refusals),
        cmocka_unit_test(test_netfront),
        cmocka_unit_test(test_ip_list),
        cmocka_unit_test(test_cdrom_shape),
        cmocka_unit_test(test_xml_contradictions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
