// Teleportation of ry(theta)|0> from q[0] to q[2] with deferred measurement: the
// classically controlled corrections become controlled gates. Ends in |+>|+>|psi>.
OPENQASM 3.0;
include "stdgates.inc";
input float[64] theta;
qubit[3] q;
ry(theta) q[0];
h q[1];
cx q[1], q[2];
cx q[0], q[1];
h q[0];
cx q[1], q[2];
cz q[0], q[2];
