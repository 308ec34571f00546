// Three-qubit W state (|001> + |010> + |100>)/√3.
OPENQASM 3.0;
include "stdgates.inc";
qubit[3] q;
ry(2 * arccos(1 / sqrt(3))) q[0];
ch q[0], q[1];
cx q[1], q[2];
cx q[0], q[1];
x q[0];
