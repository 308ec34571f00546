// Angle and phase conventions: rx(pi/2)|0> = (|0> - i|1>)/√2 and
// rz(pi/2)|+> = (exp(-iπ/4)|0> + exp(iπ/4)|1>)/√2.
OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
rx(pi/2) q[0];
h q[1];
rz(pi/2) q[1];
