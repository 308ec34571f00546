// Deutsch-Jozsa with the balanced oracle f(x) = x0 xor x1 xor x2: the input register
// ends in |111> (never |000>), the ancilla stays |->.
OPENQASM 2.0;
include "qelib1.inc";
qreg x[3];
qreg y[1];
creg c[3];
x y[0];
h x;
h y[0];
cx x[0], y[0];
cx x[1], y[0];
cx x[2], y[0];
h x;
measure x -> c;
