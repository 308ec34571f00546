OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
qubit[2] q;
h q[0];
cx q[0], q[1];
ry(2 * theta + 0.1) q[1];
