// Hadamard broadcast over a register: every basis state has amplitude 1/4.
OPENQASM 2.0;
include "qelib1.inc";
qreg q[4];
creg c[4];
h q;
measure q -> c;
