#!/usr/bin/env python3
"""QPACK-encode header lists with Debian's libnghttp3 (through ctypes): an independent encoder for wirelog's QPACK
decoder tests. argv[1] (or stdin): {"capacity": N, "blocked": N, "lists": [[[name, value], ...], ...]}; stdout: one JSON object
per list, {"section": hex, "encoder": hex} (the field section, and the encoder-stream bytes written for it)."""
import ctypes, ctypes.util, json, sys

lib = ctypes.CDLL(ctypes.util.find_library('nghttp3') or 'libnghttp3.so.3')


class Buf(ctypes.Structure):  # nghttp3_buf
    _fields_ = [('begin', ctypes.c_void_p), ('end', ctypes.c_void_p), ('pos', ctypes.c_void_p), ('last', ctypes.c_void_p)]


class NV(ctypes.Structure):  # nghttp3_nv
    _fields_ = [('name', ctypes.c_char_p), ('value', ctypes.c_char_p), ('namelen', ctypes.c_size_t),
                ('valuelen', ctypes.c_size_t), ('flags', ctypes.c_uint8)]


def data(b):
    return ctypes.string_at(b.pos, b.last - b.pos) if b.last else b''


def main():
    req = json.loads(sys.argv[1]) if len(sys.argv) > 1 else json.load(sys.stdin)
    lib.nghttp3_mem_default.restype = ctypes.c_void_p
    mem = ctypes.c_void_p(lib.nghttp3_mem_default())
    enc = ctypes.c_void_p()
    cap = ctypes.c_size_t(req['capacity'])
    if lib.nghttp3_qpack_encoder_new(ctypes.byref(enc), cap, mem) != 0:
        raise SystemExit('nghttp3_qpack_encoder_new failed')
    lib.nghttp3_qpack_encoder_set_max_dtable_capacity(enc, cap)
    lib.nghttp3_qpack_encoder_set_max_blocked_streams(enc, ctypes.c_size_t(req['blocked']))
    out = []
    for i, fields in enumerate(req['lists']):
        bufs = [Buf(), Buf(), Buf()]
        for b in bufs:
            lib.nghttp3_buf_init(ctypes.byref(b))
        raw = [(n.encode('latin1'), v.encode('latin1')) for n, v in fields]
        nva = (NV * len(raw))(*[NV(n, v, len(n), len(v), 0) for n, v in raw])
        rc = lib.nghttp3_qpack_encoder_encode(enc, ctypes.byref(bufs[0]), ctypes.byref(bufs[1]), ctypes.byref(bufs[2]),
                                              ctypes.c_int64(4 * i), nva, ctypes.c_size_t(len(raw)))
        if rc != 0:
            raise SystemExit(f'nghttp3_qpack_encoder_encode: {rc}')
        out.append({'section': (data(bufs[0]) + data(bufs[1])).hex(), 'encoder': data(bufs[2]).hex()})
        # as if the decoder acknowledged everything: acknowledged entries may be evicted
        lib.nghttp3_qpack_encoder_ack_everything(enc)
    print(json.dumps(out))


main()
