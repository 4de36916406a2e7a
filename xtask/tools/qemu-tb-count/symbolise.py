#!/usr/bin/env python3
"""Adds up tbcount.c's per-block counts by function.

usage: symbolise.py COUNTS bulkhead|direct KALLSYMS [HYPERVISOR_NM]

KALLSYMS: `address type name` lines of the kernel (Debian's System.map is a stub; recover them
from the Image, e.g. with `kallsyms-finder Image` from PyPI's vmlinux-to-elf). HYPERVISOR_NM:
`llvm-nm -n --demangle` of the hypervisor ELF. Blocks inside the hypervisor's text are
`EL2:<symbol>`; under Bulkhead everything else on vCPU 0 is `rt` (the demo pins it to core 0);
kernel addresses get the kernel's symbol, the kernel's MMU-off code (at its physical load
address, assumed 0x40200000 with nokaslr) `mmuoff:<symbol>`, the rest `EL0`.
Prints `count name` lines, largest first, after a `# total` line.
"""
import sys, bisect, collections
KBASE = 0xffff800008000000; KPA = 0x40200000
ks = []
for line in open(sys.argv[3]):
    a, t, n = line.split()[:3]
    if t.lower() in 'tw':
        ks.append((int(a, 16), n))
ks.sort(); kaddrs = [a for a, _ in ks]
hv = []
if len(sys.argv) > 4:
    for line in open(sys.argv[4]):
        p = line.split()
        if len(p) >= 3 and p[1].lower() in 'tw':
            hv.append((int(p[0], 16), p[2]))
hv.sort(); haddrs = [a for a, _ in hv]
def ksym(va):
    i = bisect.bisect_right(kaddrs, va) - 1
    return ks[i][1] if i >= 0 else '?k'
side = sys.argv[2]
agg = collections.Counter(); total = 0
for line in open(sys.argv[1]):
    if line.startswith('#'): continue
    v, a, c = line.split(); v = int(v); a = int(a, 16); c = int(c); total += c
    if hv and haddrs[0] <= a < haddrs[-1] + 0x10000:
        i = bisect.bisect_right(haddrs, a) - 1; name = 'EL2:' + hv[i][1]
    elif side == 'bulkhead' and v == 0:
        name = 'rt'
    elif a >= 0xffff000000000000:
        name = ksym(a)
    elif KPA <= a < KPA + 0x4000000:
        name = 'mmuoff:' + ksym(a - KPA + KBASE)
    else:
        name = 'EL0'
    agg[name] += c
print('# total', total)
for n, c in agg.most_common():
    print(c, n)
