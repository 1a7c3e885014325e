"""A minimal BSON decoder (the types node-api writes), for comparing BSON
answers with JSON ones without a third-party package."""

import struct


def _cstring(buf, i):
    end = buf.index(b"\x00", i)
    return buf[i:end].decode("utf-8"), end + 1


def _document(buf, i, as_list=False):
    (length,) = struct.unpack_from("<i", buf, i)
    end = i + length
    if buf[end - 1] != 0:
        raise ValueError("document not NUL-terminated")
    i += 4
    out = {}
    while i < end - 1:
        kind = buf[i]
        key, i = _cstring(buf, i + 1)
        if kind == 0x01:
            (v,) = struct.unpack_from("<d", buf, i)
            i += 8
        elif kind == 0x02:
            (n,) = struct.unpack_from("<i", buf, i)
            v = buf[i + 4:i + 4 + n - 1].decode("utf-8")
            i += 4 + n
        elif kind in (0x03, 0x04):
            v, i = _document(buf, i, as_list=kind == 0x04)
        elif kind == 0x08:
            v = buf[i] == 1
            i += 1
        elif kind == 0x0A:
            v = None
        elif kind == 0x10:
            (v,) = struct.unpack_from("<i", buf, i)
            i += 4
        elif kind == 0x12:
            (v,) = struct.unpack_from("<q", buf, i)
            i += 8
        else:
            raise ValueError(f"BSON type {kind:#x} not handled")
        out[key] = v
    if as_list:
        return [out[str(k)] for k in range(len(out))], end
    return out, end


def decode(buf):
    doc, end = _document(bytes(buf), 0)
    if end != len(buf):
        raise ValueError("trailing bytes after the document")
    return doc
