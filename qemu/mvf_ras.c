/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * MVF emulated SR-IOV device: errors and link changes on command.
 *
 * Two properties of mvf-pf let whoever runs QEMU act on the device while a
 * guest drives it (QMP: qom-set on the PF's QOM path):
 *
 *   aer-inject "FN KIND"   FN is "pf" or "vfN", N the VF number (0-based,
 *                          as pcie_sriov_vf_number(); the VF must be
 *                          enabled), KIND one of "cor", "uncor-nonfatal",
 *                          "fatal".  The function detects an error of that
 *                          kind: the device reacts to it (mvf_if.h,
 *                          "Errors") and the error goes up QEMU's AER
 *                          emulation (pcie_aer_inject_error()) to the root
 *                          port, with the function as requester.
 *   link "SPEED WIDTH"     the link retrains to SPEED (Link Status encoding,
 *                          1 = 2.5 GT/s .. 5 = 32 GT/s) and WIDTH lanes,
 *                          which the PF's Link Capabilities must allow.  The
 *                          Link Status of the PF and of every VF shows the
 *                          new values and the PF posts MVF_EVENT_LINK_CHANGE.
 *                          Reading it gives the current "SPEED WIDTH".
 *
 * Stock HMP pcie_aer_inject_error reaches devices by qdev id only, which
 * VFs have none of, and it sets AER status without the device noticing.
 *
 * Which error: a correctable one is a Receiver Error.  An uncorrectable one
 * is the first of a list whose bit in the function's Uncorrectable Error
 * Severity register has the severity asked for, preferring one that the
 * Uncorrectable Error Mask does not mask (a masked error is logged, not
 * reported): Completion Timeout, Unexpected Completion, Completer Abort,
 * Poisoned TLP, Unsupported Request for non-fatal; Malformed TLP, Data Link
 * Protocol Error, Flow Control Protocol Error, Receiver Overflow, Surprise
 * Down for fatal.  With the reset severities these are Completion Timeout
 * and Malformed TLP.  If the guest made none of them of that severity, the
 * injection is refused.
 */

#include "qemu/osdep.h"
#include "qemu/ctype.h"
#include "qemu/cutils.h"
#include "qapi/error.h"
#include "hw/pci/pci.h"
#include "hw/pci/pcie.h"
#include "hw/pci/pcie_aer.h"
#include "hw/pci/pcie_sriov.h"
#include "mvf.h"

static const uint32_t mvf_ras_nonfatal[] = {
    PCI_ERR_UNC_COMP_TIME,
    PCI_ERR_UNC_UNX_COMP,
    PCI_ERR_UNC_COMP_ABORT,
    PCI_ERR_UNC_POISON_TLP,
    PCI_ERR_UNC_UNSUP,
};

static const uint32_t mvf_ras_fatal[] = {
    PCI_ERR_UNC_MALF_TLP,
    PCI_ERR_UNC_DLP,
    PCI_ERR_UNC_FCP,
    PCI_ERR_UNC_RX_OVER,
    PCI_ERR_UNC_SDN,
};

/* The uncorrectable error to inject into @dev, 0 if none has @fatal */
static uint32_t mvf_ras_pick_uncor(PCIDevice *dev, bool fatal)
{
    uint8_t *aer = dev->config + dev->exp.aer_cap;
    uint32_t sev = pci_get_long(aer + PCI_ERR_UNCOR_SEVER);
    uint32_t mask = pci_get_long(aer + PCI_ERR_UNCOR_MASK);
    const uint32_t *list = fatal ? mvf_ras_fatal : mvf_ras_nonfatal;
    size_t n = fatal ? ARRAY_SIZE(mvf_ras_fatal) :
                       ARRAY_SIZE(mvf_ras_nonfatal);
    uint32_t masked = 0;
    size_t i;

    for (i = 0; i < n; i++) {
        if (!!(sev & list[i]) != fatal) {
            continue;
        }
        if (!(mask & list[i])) {
            return list[i];
        }
        if (!masked) {
            masked = list[i];
        }
    }
    return masked;
}

/* "pf" or "vfN": the function, NULL with @errp set */
static PCIDevice *mvf_ras_function(MvfPfState *pf, const char *fn,
                                   Error **errp)
{
    PCIDevice *dev = PCI_DEVICE(pf);
    unsigned int n;

    if (!strcmp(fn, "pf")) {
        return dev;
    }
    if (strncmp(fn, "vf", 2) || !qemu_isdigit(fn[2]) ||
        qemu_strtoui(fn + 2, NULL, 10, &n) < 0) {
        error_setg(errp, "mvf-pf: '%s' is neither 'pf' nor 'vfN'", fn);
        return NULL;
    }
    if (n >= pf->total_vfs) {
        error_setg(errp, "mvf-pf: no VF %u (total-vfs %u)", n, pf->total_vfs);
        return NULL;
    }
    if (n >= pcie_sriov_num_vfs(dev)) {
        error_setg(errp, "mvf-pf: VF %u is not enabled (NumVFs %u)", n,
                   pcie_sriov_num_vfs(dev));
        return NULL;
    }
    return pcie_sriov_get_vf_at_index(dev, n);
}

/* Split "A B" into two words; false unless there are exactly two */
static bool mvf_ras_two_words(const char *value, char **a, char **b)
{
    g_auto(GStrv) w = g_strsplit(value, " ", 0);

    if (g_strv_length(w) != 2 || !*w[0] || !*w[1]) {
        return false;
    }
    *a = g_strdup(w[0]);
    *b = g_strdup(w[1]);
    return true;
}

static void mvf_ras_set_aer_inject(Object *obj, const char *value,
                                   Error **errp)
{
    MvfPfState *pf = MVF_PF(obj);
    g_autofree char *fn = NULL, *kind = NULL;
    PCIEAERErr err = { 0 };
    PCIDevice *dev;
    bool uncor;
    int ret;

    if (!DEVICE(obj)->realized) {
        error_setg(errp, "mvf-pf: aer-inject needs a realized device");
        return;
    }
    if (!mvf_ras_two_words(value, &fn, &kind)) {
        error_setg(errp, "mvf-pf: aer-inject takes 'FN KIND' (FN: pf or "
                   "vfN, KIND: cor, uncor-nonfatal or fatal), not '%s'",
                   value);
        return;
    }
    dev = mvf_ras_function(pf, fn, errp);
    if (!dev) {
        return;
    }
    if (!strcmp(kind, "cor")) {
        err.status = PCI_ERR_COR_RCVR;
        err.flags = PCIE_AER_ERR_IS_CORRECTABLE;
    } else if (!strcmp(kind, "uncor-nonfatal") || !strcmp(kind, "fatal")) {
        bool fatal = !strcmp(kind, "fatal");

        err.status = mvf_ras_pick_uncor(dev, fatal);
        if (!err.status) {
            error_setg(errp, "mvf-pf: %s: no uncorrectable error is %s in "
                       "its severity register (0x%08x)", fn,
                       fatal ? "fatal" : "non-fatal",
                       pci_get_long(dev->config + dev->exp.aer_cap +
                                    PCI_ERR_UNCOR_SEVER));
            return;
        }
    } else {
        error_setg(errp, "mvf-pf: error kind '%s' is not cor, "
                   "uncor-nonfatal or fatal", kind);
        return;
    }
    err.source_id = pci_requester_id(dev);
    uncor = !(err.flags & PCIE_AER_ERR_IS_CORRECTABLE);

    /* the device has reacted by the time the guest hears of it */
    if (uncor) {
        if (dev == PCI_DEVICE(pf)) {
            mvf_cmd_error(pf);
        } else {
            mvf_cmd_vf_error(pf, MVF_VF(dev));
        }
    }
    ret = pcie_aer_inject_error(dev, &err);
    if (ret < 0) {
        error_setg_errno(errp, -ret, "mvf-pf: %s: AER injection failed", fn);
    }
}

/* Current Link Speed and Negotiated Link Width of one function */
static void mvf_ras_set_lnksta(PCIDevice *dev, uint8_t speed, uint8_t width)
{
    uint8_t *exp = dev->config + dev->exp.exp_cap;

    pci_word_test_and_clear_mask(exp + PCI_EXP_LNKSTA,
                                 PCI_EXP_LNKSTA_CLS | PCI_EXP_LNKSTA_NLW);
    pci_word_test_and_set_mask(exp + PCI_EXP_LNKSTA,
                               QEMU_PCI_EXP_LNKSTA_CLS(speed) |
                               QEMU_PCI_EXP_LNKSTA_NLW(width));
}

/*
 * Link Capabilities of a function of @pf (the PF or one of its VFs), its
 * Link Status as the link is now.
 */
void mvf_ras_link_init(PCIDevice *dev, MvfPfState *pf)
{
    pcie_cap_fill_link_ep_usp(dev, MVF_LINK_MAX_WIDTH, MVF_LINK_MAX_SPEED);
    mvf_ras_set_lnksta(dev, pf->link_speed, pf->link_width);
}

static char *mvf_ras_get_link(Object *obj, Error **errp)
{
    MvfPfState *pf = MVF_PF(obj);

    return g_strdup_printf("%u %u", pf->link_speed, pf->link_width);
}

/* Is @speed lanes @width a link the PF's Link Capabilities allow? */
static bool mvf_ras_link_ok(PCIDevice *dev, unsigned speed, unsigned width,
                            Error **errp)
{
    uint8_t *exp = dev->config + dev->exp.exp_cap;
    uint32_t lnkcap = pci_get_long(exp + PCI_EXP_LNKCAP);
    uint32_t lnkcap2 = pci_get_long(exp + PCI_EXP_LNKCAP2);
    unsigned max_speed = lnkcap & PCI_EXP_LNKCAP_SLS;
    unsigned max_width = (lnkcap & PCI_EXP_LNKCAP_MLW) >>
                         PCI_EXP_LNK_MLW_SHIFT;
    bool speed_ok;

    /* with a Supported Link Speeds vector, bit SPEED says; else up to max */
    if (lnkcap2 & PCI_EXP_LNKCAP2_SLS) {
        speed_ok = speed >= 1 && speed <= 7 &&
                   (lnkcap2 & (1u << speed));
    } else {
        speed_ok = speed >= 1 && speed <= max_speed;
    }
    if (!speed_ok) {
        error_setg(errp, "mvf-pf: link speed %u is not one the PF supports "
                   "(1 = 2.5 GT/s .. %u)", speed, max_speed);
        return false;
    }
    if (!is_power_of_2(width) || width > 16 || width > max_width) {
        error_setg(errp, "mvf-pf: link width %u is not 1, 2, 4, 8 or 16 "
                   "lanes up to the PF's x%u", width, max_width);
        return false;
    }
    return true;
}

static void mvf_ras_set_link(Object *obj, const char *value, Error **errp)
{
    MvfPfState *pf = MVF_PF(obj);
    PCIDevice *dev = PCI_DEVICE(obj);
    g_autofree char *s = NULL, *w = NULL;
    unsigned int speed, width;
    uint16_t i;

    if (!DEVICE(obj)->realized) {
        error_setg(errp, "mvf-pf: link needs a realized device");
        return;
    }
    if (!mvf_ras_two_words(value, &s, &w) ||
        qemu_strtoui(s, NULL, 10, &speed) < 0 ||
        qemu_strtoui(w, NULL, 10, &width) < 0) {
        error_setg(errp, "mvf-pf: link takes 'SPEED WIDTH' (SPEED 1..5 as "
                   "in Link Status, WIDTH in lanes), not '%s'", value);
        return;
    }
    if (!mvf_ras_link_ok(dev, speed, width, errp)) {
        return;
    }
    pf->link_speed = speed;
    pf->link_width = width;
    mvf_ras_set_lnksta(dev, speed, width);
    /* every VF, enabled or not: one enabled later shows the same */
    for (i = 0; i < pf->total_vfs; i++) {
        mvf_ras_set_lnksta(dev->exp.sriov_pf.vf[i], speed, width);
    }
    mvf_cmd_link_event(pf);
}

/* At PF realize, before the VFs are made */
void mvf_ras_init(PCIDevice *dev)
{
    MvfPfState *pf = MVF_PF(dev);

    pf->link_speed = MVF_LINK_MAX_SPEED;
    pf->link_width = MVF_LINK_MAX_WIDTH;
    mvf_ras_link_init(dev, pf);
}

void mvf_ras_class_init(ObjectClass *klass)
{
    object_class_property_add_str(klass, "aer-inject", NULL,
                                  mvf_ras_set_aer_inject);
    object_class_property_set_description(klass, "aer-inject",
        "write 'FN KIND' to make function FN (pf, vf0, vf1, ...) detect an "
        "error of KIND cor, uncor-nonfatal or fatal");
    object_class_property_add_str(klass, "link", mvf_ras_get_link,
                                  mvf_ras_set_link);
    object_class_property_set_description(klass, "link",
        "'SPEED WIDTH' of the PCIe link (SPEED 1..5 = 2.5..32 GT/s); "
        "writing it retrains the link and posts a link change event");
}
