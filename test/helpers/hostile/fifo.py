# FIFOs behind the server's back (issue 8).
#   open PATH           open PATH for reading through the mount (a FIFO now,
#                       a regular file when the kernel last looked) and close it;
#                       O_NONBLOCK, so an open that reaches the real FIFO returns
#                       at once (a blocking one would wait for a writer, as on SRC)
#   flip FILE SECONDS STOP
#                       FILE flips between a regular file and a FIFO on SRC
#                       until SECONDS passed or STOP exists
import os, sys, time

role = sys.argv[1]
if role == 'open':
    attempt('open', lambda: os.close(os.open(sys.argv[2], os.O_RDONLY | os.O_NONBLOCK)))
else:
    f, end, stop, n = sys.argv[2], time.monotonic() + float(sys.argv[3]), sys.argv[4], 0
    tmp = f'{f}.tmp'
    while time.monotonic() < end and (n & 63 or not os.path.exists(stop)):
        with open(tmp, 'w') as w:
            w.write('regular\n')
        os.rename(tmp, f)
        time.sleep(0.0005)
        os.mkfifo(tmp)
        os.rename(tmp, f)
        time.sleep(0.0005)
        n += 1
    note('flips', n)
finish()
