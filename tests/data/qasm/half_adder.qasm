// Quantum half adder on all inputs: |a b> -> |a b (a xor b) (a and b)>, four registers.
OPENQASM 2.0;
include "qelib1.inc";
qreg a[1];
qreg b[1];
qreg sum[1];
qreg carry[1];
creg out[2];
h a[0];
h b[0];
cx a[0], sum[0];
cx b[0], sum[0];
ccx a[0], b[0], carry[0];
barrier a, b, sum, carry;
measure sum[0] -> out[0];
measure carry[0] -> out[1];
