// Bernstein-Vazirani for the secret s = 1011 (x[0] is the first bit).
OPENQASM 2.0;
include "qelib1.inc";
qreg x[4];
qreg y[1];
creg c[4];
x y[0];
h x;
h y[0];
cx x[0], y[0];
cx x[2], y[0];
cx x[3], y[0];
h x;
measure x -> c;
