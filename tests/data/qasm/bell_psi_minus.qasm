// Bell state |Ψ-> = (|01> - |10>)/√2 (the singlet).
OPENQASM 3.0;
include "stdgates.inc";
qubit[2] q;
x q[0];
x q[1];
h q[0];
cx q[0], q[1];
