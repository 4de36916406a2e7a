#!/usr/bin/env python3
"""Compares two symbolise.py tables: totals, EL2, rt and the rest, then the functions whose
counts differ most. usage: compare.py BULKHEAD_TABLE DIRECT_TABLE [ROWS]"""
import sys, collections
def load(p):
    d = collections.Counter()
    for l in open(p):
        if l.startswith('#'): continue
        c, n = l.split(None, 1); d[n.strip()] += int(c)
    return d
a = load(sys.argv[1]); b = load(sys.argv[2])
names = set(a) | set(b)
rows = sorted(((a[n] - b[n], n) for n in names), key=lambda r: -abs(r[0]))
el2 = sum(v for k, v in a.items() if k.startswith('EL2:'))
rt = a.get('rt', 0)
print('total', sum(a.values()), sum(b.values()), 'diff', sum(a.values()) - sum(b.values()), 'EL2', el2, 'rt', rt)
print('EL1+EL0 diff (excluding EL2 and rt):', sum(v for k,v in a.items() if not k.startswith('EL2:') and k!='rt') - sum(b.values()))
for d, n in rows[:int(sys.argv[3]) if len(sys.argv) > 3 else 50]:
    print(f'{d:+12d} {a[n]:12d} {b[n]:12d} {n}')
