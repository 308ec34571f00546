// Superdense coding of the two bits "10": Alice applies Z to her half of a Bell pair,
// Bob decodes with CNOT and H and holds |10>.
OPENQASM 2.0;
include "qelib1.inc";
qreg q[2];
creg c[2];
h q[0];
cx q[0], q[1];
z q[0];
cx q[0], q[1];
h q[0];
measure q -> c;
