/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* QEMU's command line from a domain definition. Pure: no file is opened
 * and no process started here, so that tests/unit/test-qemu-cmdline.c can
 * check the arguments every supported element gives. */
#include "qemu-cmdline.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "util.h"

static void argv_push(struct qemu_argv *a, char *s)
{
    if (a->n >= QEMU_MAX_ARGS)
        abort(); /* bounded by the definition's limits; a programmer error */
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

static void argv_add(struct qemu_argv *a, const char *s)
{
    argv_push(a, ferry_strdup(s));
}

static void argv_addf(struct qemu_argv *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void argv_addf(struct qemu_argv *a, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    argv_push(a, s);
}

void qemu_argv_clear(struct qemu_argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    a->n = 0;
    a->v[0] = NULL;
}

/* QEMU's option syntax uses ',' as a separator; a literal comma in a value
 * is written ",,". Paths with commas are legal and must survive. */
static char *qemu_escape(const char *s)
{
    size_t n = 0;
    char *out, *o;

    for (const char *p = s; *p; p++)
        n += *p == ',' ? 2 : 1;
    out = o = ferry_calloc(n + 1, 1);
    for (const char *p = s; *p; p++) {
        *o++ = *p;
        if (*p == ',')
            *o++ = ',';
    }
    return out;
}

static const char *cache_direct(enum domain_disk_cache c)
{
    return c == DOMAIN_CACHE_NONE ? "on" : "off";
}

static const char *cache_no_flush(enum domain_disk_cache c)
{
    return c == DOMAIN_CACHE_UNSAFE ? "on" : "off";
}

/* ",addr=0x3": the device's pinned slot on the machine's root bus (pci.0
 * or pcie.0: QEMU's default bus for a device without bus=). BUF holds 16
 * bytes. */
static const char *pci_addr(struct domain_pci_addr a, char *buf)
{
    if (!a.set)
        return "";
    snprintf(buf, 16, ",addr=%#x", a.slot);
    return buf;
}

/* ",bus=ide.2": a sata/ide drive's pinned position on the machine's own
 * controller: q35's AHCI has one drive per port (bus), a pc's PIIX IDE two
 * units on each of two buses; a scsi disk's LUN on the virtio-scsi
 * controller (target 0). BUF holds 48 bytes. */
static const char *drive_bus(const struct domain_def *def, const struct domain_disk *d, char *buf)
{
    if (d->drive < 0)
        return "";
    if (strcmp(d->bus, "scsi") == 0)
        snprintf(buf, 48, ",bus=scsi0.0,channel=0,scsi-id=0,lun=%d", d->drive);
    else if (strstr(def->machine, "q35"))
        snprintf(buf, 48, ",bus=ide.%d", d->drive);
    else
        snprintf(buf, 48, ",bus=ide.%d,unit=%d", d->drive / 2, d->drive % 2);
    return buf;
}

static void add_disk(struct qemu_argv *a, const struct qemu_cmdline_host *h,
                     const struct domain_def *def, const struct domain_disk *d)
{
    char bus[48];
    bool scsi = strcmp(d->bus, "scsi") == 0;

    _cleanup_free_ char *src = NULL;
    const char *ro = d->readonly ? "on" : "off";
    const char *discard = d->discard[0] ? d->discard : "unmap";
    char addr[16], aio[24] = "", dz[32] = "";

    if (!d->source) {
        /* Only a CD-ROM may be empty (domain.c): a drive with its tray
         * empty. */
        argv_add(a, "-device");
        argv_addf(a, "%s,id=%s%s", scsi ? "scsi-cd" : "ide-cd", d->target, drive_bus(def, d, bus));
        return;
    }
    src = qemu_escape(d->source);
    if (d->io[0])
        snprintf(aio, sizeof aio, ",aio=%s", d->io);
    if (d->detect_zeroes[0])
        snprintf(dz, sizeof dz, ",detect-zeroes=%s", d->detect_zeroes);
    /* discard=unmap on the file node and, during an incoming migration,
     * on the format node too: the copy's zero writes must not allocate, a
     * migration target stays as sparse as its source. Otherwise the
     * format node takes the guest's discards as <driver discard> says. */
    if (h->incoming)
        discard = "unmap";
    argv_add(a, "-blockdev");
    argv_addf(a,
              "driver=file,node-name=p-%s,filename=%s,cache.direct=%s,cache.no-flush=%s%s,"
              "discard=unmap,read-only=%s%s",
              d->target, src, cache_direct(d->cache), cache_no_flush(d->cache), aio, ro,
              d->shareable ? ",locking=off" : "");
    argv_add(a, "-blockdev");
    argv_addf(a, "driver=%s,node-name=f-%s,file=p-%s,discard=%s%s,read-only=%s",
              domain_disk_format_name(d->format), d->target, d->target, discard, dz, ro);
    argv_add(a, "-device");
    if (scsi)
        argv_addf(a, "%s,drive=f-%s,id=%s%s%s%s%s", d->cdrom ? "scsi-cd" : "scsi-hd", d->target,
                  d->target, d->serial[0] ? ",serial=" : "", d->serial,
                  d->shareable ? ",share-rw=on" : "", drive_bus(def, d, bus));
    else if (d->cdrom)
        argv_addf(a, "ide-cd,drive=f-%s,id=%s%s%s%s", d->target, d->target,
                  d->serial[0] ? ",serial=" : "", d->serial, drive_bus(def, d, bus));
    else if (strcmp(d->bus, "sata") == 0 || strcmp(d->bus, "ide") == 0)
        argv_addf(a, "ide-hd,drive=f-%s,id=%s%s%s%s%s", d->target, d->target,
                  d->serial[0] ? ",serial=" : "", d->serial, d->shareable ? ",share-rw=on" : "",
                  drive_bus(def, d, bus));
    else
        argv_addf(a, "virtio-blk-pci,drive=f-%s,id=%s%s%s%s%s", d->target, d->target,
                  d->serial[0] ? ",serial=" : "", d->serial, d->shareable ? ",share-rw=on" : "",
                  pci_addr(d->addr, addr));
}

static const char *nic_device(enum domain_nic_model m)
{
    switch (m) {
    case DOMAIN_NIC_VIRTIO:
        return "virtio-net-pci";
    case DOMAIN_NIC_E1000:
        return "e1000";
    case DOMAIN_NIC_RTL8139:
        return "rtl8139";
    }
    return "rtl8139";
}

/* QEMU announces the guest's MACs after an incoming migration
 * (announce-initial/rounds left at their defaults, on): the switches learn
 * the new port at once. */
static void add_nic(struct qemu_argv *a, const struct qemu_cmdline_host *h, size_t i,
                    const struct domain_nic *nic)
{
    char addr[16];

    argv_add(a, "-netdev");
    if (nic->type == DOMAIN_NIC_USER)
        argv_addf(a, "user,id=hostnet%zu", i);
    else
        argv_addf(a, "tap,id=hostnet%zu,fd=%d", i, h->nic_fds ? h->nic_fds[i] : -1);
    argv_add(a, "-device");
    argv_addf(a, "%s,netdev=hostnet%zu,id=net%zu,mac=%s%s", nic_device(nic->model), i, i, nic->mac,
              pci_addr(nic->addr, addr));
}

/* The first serial port: an isa-serial whose output is also logged to
 * the agent's NAME.serial file, whatever reaches it from the host. */
static void add_serial(struct qemu_argv *a, const struct qemu_cmdline_host *h,
                       const struct domain_serial *s)
{
    _cleanup_free_ char *log = qemu_escape(h->serial_path);

    argv_add(a, "-chardev");
    switch (s->type) {
    case DOMAIN_CHR_NONE:
        argv_addf(a, "file,id=serial0,path=%s,append=on", log);
        break;
    case DOMAIN_CHR_PTY:
        argv_addf(a, "pty,id=serial0,logfile=%s,logappend=on", log);
        break;
    case DOMAIN_CHR_UNIX: {
        _cleanup_free_ char *path = qemu_escape(s->path ? s->path : h->console_path);

        /* wait=off: the guest runs whether or not a console is attached. */
        argv_addf(a, "socket,id=serial0,path=%s,server=on,wait=off,logfile=%s,logappend=on", path,
                  log);
        break;
    }
    }
    argv_add(a, "-serial");
    argv_add(a, "chardev:serial0");
}

static void add_display(struct qemu_argv *a, const struct domain_def *def)
{
    const struct domain_graphics *g = &def->graphics;
    const struct domain_video *v = &def->video;
    char addr[16];

    if (g->vnc) {
        const char *listen = g->listen[0] ? g->listen : "127.0.0.1";
        bool v6 = strchr(listen, ':') != NULL;

        argv_add(a, "-vnc");
        /* Autoport: the first free display from 0 (port 5900) on, as
         * libvirt picks the first free port. */
        if (g->port < 0)
            argv_addf(a, "%s%s%s:0,to=99", v6 ? "[" : "", listen, v6 ? "]" : "");
        else
            argv_addf(a, "%s%s%s:%d", v6 ? "[" : "", listen, v6 ? "]" : "", g->port - 5900);
    }
    if (v->model == DOMAIN_VIDEO_VGA) {
        argv_add(a, "-device");
        if (v->vram_kib)
            argv_addf(a, "VGA,id=video0,vgamem_mb=%u%s", v->vram_kib / 1024,
                      pci_addr(v->addr, addr));
        else
            argv_addf(a, "VGA,id=video0%s", pci_addr(v->addr, addr));
    } else if (v->model == DOMAIN_VIDEO_VIRTIO) {
        argv_add(a, "-device");
        argv_addf(a, "virtio-vga,id=video0%s", pci_addr(v->addr, addr));
    }
}

/* UEFI: the code read-only in pflash0, the variables read-write in
 * pflash1, as libvirt gives them (blockdev nodes named by the machine's
 * pflash0=/pflash1= properties). */
static void add_pflash(struct qemu_argv *a, const struct qemu_cmdline_host *h,
                       const struct domain_def *def)
{
    _cleanup_free_ char *code = qemu_escape(def->loader);
    _cleanup_free_ char *vars = qemu_escape(h->nvram_path ? h->nvram_path : "");

    argv_add(a, "-blockdev");
    argv_addf(a, "driver=file,node-name=pflash0-file,filename=%s,read-only=on", code);
    argv_add(a, "-blockdev");
    argv_add(a, "driver=raw,node-name=pflash0,file=pflash0-file,read-only=on");
    argv_add(a, "-blockdev");
    argv_addf(a, "driver=file,node-name=pflash1-file,filename=%s,read-only=off", vars);
    argv_add(a, "-blockdev");
    argv_add(a, "driver=raw,node-name=pflash1,file=pflash1-file,read-only=off");
}

void qemu_cmdline_build(const struct qemu_cmdline_host *h, const struct domain_def *def,
                        struct qemu_argv *a)
{
    argv_add(a, h->binary);
    argv_add(a, "-name");
    argv_addf(a, "guest=%s,debug-threads=on", def->name);
    argv_add(a, "-uuid");
    argv_add(a, def->uuid);
    argv_add(a, "-machine");
    /* The pinned, versioned name (hv_driver.domain_define): the source and
     * the destination of a migration build the same machine. */
    {
        /* <features>, <clock>: set only what the document sets. */
        const struct domain_machine_opts *o = &def->mopts;
        char opts[96];

        snprintf(opts, sizeof opts, "%s%s%s%s%s%s", o->vmport ? ",vmport=" : "",
                 domain_tristate_name(o->vmport), o->smm ? ",smm=" : "",
                 domain_tristate_name(o->smm), o->hpet ? ",hpet=" : "",
                 domain_tristate_name(o->hpet));
        argv_addf(a, "%s,accel=%s%s%s", def->machine[0] ? def->machine : QEMU_MACHINE_DEFAULT,
                  h->kvm ? "kvm" : "tcg",
                  def->loader && !def->loader_rom ? ",pflash0=pflash0,pflash1=pflash1" : "", opts);
    }
    if (def->mopts.rtc_localtime) {
        argv_add(a, "-rtc");
        argv_add(a, "base=localtime");
    }
    {
        /* <pm>: the ACPI sleep states, a property of the machine's power
         * management device (q35's LPC bridge, a pc's PIIX4). */
        const char *pm = strstr(def->machine, "q35") ? "ICH9-LPC" : "PIIX4_PM";

        if (def->mopts.s3) {
            argv_add(a, "-global");
            argv_addf(a, "%s.disable_s3=%d", pm, def->mopts.s3 == DOMAIN_OFF);
        }
        if (def->mopts.s4) {
            argv_add(a, "-global");
            argv_addf(a, "%s.disable_s4=%d", pm, def->mopts.s4 == DOMAIN_OFF);
        }
    }
    argv_add(a, "-m");
    argv_addf(a, "%llu", (unsigned long long)((def->memory_kib + 1023) / 1024));
    switch (def->cpu.mode) {
    case DOMAIN_CPU_ABSENT: /* not pinned yet: QEMU's default, QEMU_CPU_DEFAULT */
        break;
    case DOMAIN_CPU_CUSTOM:
        argv_add(a, "-cpu");
        argv_add(a, def->cpu.model);
        break;
    case DOMAIN_CPU_HOST_MODEL:
    case DOMAIN_CPU_HOST_PASSTHROUGH:
        /* KVM's host CPU (QEMU's migratable=on default leaves out what
         * cannot migrate); TCG has no host CPU to pass: max, everything
         * TCG can emulate, is the same idea there. */
        argv_add(a, "-cpu");
        argv_add(a, h->kvm ? "host" : "max");
        break;
    }
    argv_add(a, "-smp");
    if (def->cpu.sockets)
        argv_addf(a, "%u,sockets=%u,cores=%u,threads=%u", def->vcpus, def->cpu.sockets,
                  def->cpu.cores, def->cpu.threads);
    else
        argv_addf(a, "%u", def->vcpus ? def->vcpus : 1);
    argv_add(a, "-nodefaults");
    argv_add(a, "-display");
    argv_add(a, "none");
    argv_add(a, "-no-user-config");
    argv_add(a, "-msg");
    argv_add(a, "timestamp=on");
    /* Confinement (docs/security.md, "QEMU"): seccomp always; QEMU opens
     * the command line's files, then drops to --qemu-user. QEMU 7.2 makes
     * that switch after installing the filter, so with -runas it must
     * allow set*id (elevateprivileges=deny kills it with SIGSYS); once it
     * runs unprivileged, spawn=deny still keeps it from exec'ing a setuid
     * program. */
    if (h->runas) {
        argv_add(a, "-runas");
        argv_add(a, h->runas);
    }
    argv_add(a, "-sandbox");
    argv_addf(a, "on,obsolete=deny,elevateprivileges=%s,spawn=deny,resourcecontrol=deny",
              h->runas ? "allow" : "deny");
    {
        _cleanup_free_ char *q = qemu_escape(h->qmp_path);
        argv_add(a, "-qmp");
        argv_addf(a, "unix:%s,server=on,wait=off", q);
    }
    add_serial(a, h, &def->serial);
    if (def->loader && def->loader_rom) {
        argv_add(a, "-bios");
        argv_add(a, def->loader);
    } else if (def->loader) {
        add_pflash(a, h, def);
    }
    if (def->on_reboot == DOMAIN_REBOOT_DESTROY)
        argv_add(a, "-no-reboot"); /* a guest reboot ends QEMU */
    if (def->kernel) {
        argv_add(a, "-kernel");
        argv_add(a, def->kernel);
        if (def->initrd) {
            argv_add(a, "-initrd");
            argv_add(a, def->initrd);
        }
        if (def->cmdline) {
            argv_add(a, "-append");
            argv_add(a, def->cmdline);
        }
    }
    if (def->scsi.present) {
        /* Before its disks, which name its bus. */
        char addr[16];

        argv_add(a, "-device");
        argv_addf(a, "virtio-scsi-pci,id=scsi0%s", pci_addr(def->scsi.addr, addr));
    }
    for (size_t i = 0; i < def->n_disks; i++)
        add_disk(a, h, def, &def->disks[i]);
    for (size_t i = 0; i < def->n_nics; i++)
        add_nic(a, h, i, &def->nics[i]);
    add_display(a, def);
    if (h->incoming) {
        /* -S: the guest stays paused after the incoming migration until
         * Finish decides (resume, or stay paused for --suspend). */
        argv_add(a, "-S");
        argv_add(a, "-incoming");
        argv_add(a, "defer");
    }
}
