/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* placeholder until the module lands */
int ferry_placeholder_mirror(void);
int ferry_placeholder_mirror(void) { return 0; }
