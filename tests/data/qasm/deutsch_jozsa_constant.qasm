// Deutsch-Jozsa with the constant oracle f(x) = 1: the input register ends in |000>.
OPENQASM 2.0;
include "qelib1.inc";
qreg x[3];
qreg y[1];
creg c[3];
x y[0];
h x;
h y[0];
x y[0];
h x;
measure x -> c;
