/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placeholder until the module lands */
int ferry_placeholder_domain(void);
int ferry_placeholder_domain(void) { return 0; }
