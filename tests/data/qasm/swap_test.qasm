// Swap test of |0> against |+>: P(ancilla = 0) = (1 + |<0|+>|^2)/2 = 3/4.
OPENQASM 2.0;
include "qelib1.inc";
qreg anc[1];
qreg a[1];
qreg b[1];
creg m[1];
h b[0];
h anc[0];
cswap anc[0], a[0], b[0];
h anc[0];
measure anc[0] -> m[0];
