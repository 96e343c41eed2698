package torchbin

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// scanPickle walks the opcodes of a pickle without running them and
// checks that every length an opcode declares fits in what is left of
// the data, so that the unpickler, which allocates a declared length
// before reading it, never allocates more than the pickle holds.
func scanPickle(data []byte) error {
	i := 0
	need := func(n uint64, what string) error {
		if n > uint64(len(data)-i) {
			return fmt.Errorf("%s of %d bytes at offset %d runs past the end (%d bytes)", what, n, i, len(data))
		}
		return nil
	}
	for i < len(data) {
		op := data[i]
		i++
		var fixed int    // bytes of a fixed-size argument
		var lenBytes int // size of a length prefix followed by that many bytes
		var lines int    // newline-terminated arguments
		switch op {
		case '.': // STOP
			return nil
		case 0x80, 'K', 'h', 'q', 0x82:
			fixed = 1
		case 'M', 0x83:
			fixed = 2
		case 'J', 'j', 'r', 0x84:
			fixed = 4
		case 'G':
			fixed = 8
		case 0x95: // FRAME: its length is checked, its content scanned inline
			fixed = 8
		case 0x8a, 'U', 'C', 0x8c:
			lenBytes = 1
		case 'T', 'X', 'B', 0x8b:
			lenBytes = 4
		case 0x8d, 0x8e, 0x96:
			lenBytes = 8
		case 'I', 'L', 'S', 'V', 'F', 'g', 'p', 'P':
			lines = 1
		case 'c', 'i':
			lines = 2
		}
		switch {
		case fixed > 0:
			if err := need(uint64(fixed), "argument"); err != nil {
				return err
			}
			if op == 0x95 {
				if err := need(binary.LittleEndian.Uint64(data[i:]), "frame"); err != nil {
					return err
				}
			}
			i += fixed
		case lenBytes > 0:
			if err := need(uint64(lenBytes), "length"); err != nil {
				return err
			}
			var n uint64
			switch lenBytes {
			case 1:
				n = uint64(data[i])
			case 4:
				n = uint64(binary.LittleEndian.Uint32(data[i:]))
			case 8:
				n = binary.LittleEndian.Uint64(data[i:])
			}
			i += lenBytes
			if err := need(n, "string"); err != nil {
				return err
			}
			i += int(n)
		default:
			for range lines {
				j := bytes.IndexByte(data[i:], '\n')
				if j < 0 {
					return fmt.Errorf("unterminated argument at offset %d", i)
				}
				i += j + 1
			}
		}
	}
	return fmt.Errorf("no STOP opcode")
}
