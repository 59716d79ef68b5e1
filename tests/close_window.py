#!/usr/bin/env python3
"""Closes an X11 window the way a window manager's close button does: finds the top-level
window whose name is argv[1] on $DISPLAY (waiting up to argv[2] seconds for it to appear) and
sends it a WM_PROTOCOLS / WM_DELETE_WINDOW client message. Prints the time of the send
(time.monotonic()) and exits 0, or exits 1 if the window never appeared.

Only the standard library (ctypes) and libX11, so the fighter's window tests need nothing
that the set-up script does not install already."""

import ctypes
import ctypes.util
import sys
import time

Window = ctypes.c_ulong
Atom = ctypes.c_ulong


class XClientMessageEvent(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("serial", ctypes.c_ulong),
        ("send_event", ctypes.c_int),
        ("display", ctypes.c_void_p),
        ("window", Window),
        ("message_type", Atom),
        ("format", ctypes.c_int),
        ("data", ctypes.c_long * 5),
    ]


class XEvent(ctypes.Union):
    _fields_ = [("xclient", XClientMessageEvent), ("pad", ctypes.c_long * 24)]


def main() -> int:
    name = sys.argv[1].encode()
    wait_s = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    x11 = ctypes.cdll.LoadLibrary(ctypes.util.find_library("X11") or "libX11.so.6")
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XDefaultRootWindow.restype = Window
    x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
    x11.XQueryTree.argtypes = [
        ctypes.c_void_p,
        Window,
        ctypes.POINTER(Window),
        ctypes.POINTER(Window),
        ctypes.POINTER(ctypes.POINTER(Window)),
        ctypes.POINTER(ctypes.c_uint),
    ]
    x11.XFetchName.argtypes = [ctypes.c_void_p, Window, ctypes.POINTER(ctypes.c_char_p)]
    x11.XInternAtom.restype = Atom
    x11.XInternAtom.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
    x11.XSendEvent.argtypes = [
        ctypes.c_void_p,
        Window,
        ctypes.c_int,
        ctypes.c_long,
        ctypes.POINTER(XEvent),
    ]
    x11.XFlush.argtypes = [ctypes.c_void_p]
    display = x11.XOpenDisplay(None)
    if not display:
        print("cannot open display", file=sys.stderr)
        return 1
    root = x11.XDefaultRootWindow(display)

    def find() -> int:
        r, p = Window(), Window()
        children = ctypes.POINTER(Window)()
        n = ctypes.c_uint()
        if not x11.XQueryTree(display, root, ctypes.byref(r), ctypes.byref(p),
                              ctypes.byref(children), ctypes.byref(n)):
            return 0
        for i in range(n.value):
            title = ctypes.c_char_p()
            if x11.XFetchName(display, children[i], ctypes.byref(title)) and title.value == name:
                return children[i]
        return 0

    deadline = time.monotonic() + wait_s
    window = find()
    while not window and time.monotonic() < deadline:
        time.sleep(0.1)
        window = find()
    if not window:
        print("window %r not found" % name.decode(), file=sys.stderr)
        return 1
    event = XEvent()
    event.xclient.type = 33  # ClientMessage
    event.xclient.window = window
    event.xclient.message_type = x11.XInternAtom(display, b"WM_PROTOCOLS", 0)
    event.xclient.format = 32
    event.xclient.data[0] = x11.XInternAtom(display, b"WM_DELETE_WINDOW", 0)
    event.xclient.data[1] = 0  # CurrentTime
    x11.XSendEvent(display, window, 0, 0, ctypes.byref(event))
    x11.XFlush(display)
    print(time.monotonic(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
