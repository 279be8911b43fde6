//! The [`select!`](crate::select!) macro: a [`Select`](crate::Select) that
//! also completes the operation it picks.

/// Waits on several channel operations and runs the arm of the one that
/// completes, in crossbeam-channel's style:
///
/// ```
/// use std::time::Duration;
/// # let dir = std::env::temp_dir().join(format!("ipcx-doc-selm-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let a = ipcx::Receiver::<u32>::open(format!("unix:{}/a.sock", dir.display()))?;
/// let b = ipcx::Receiver::<String>::open(format!("shm:/ipcx-doc-selm-{}", std::process::id()))?;
/// let tx = ipcx::Sender::<String>::open(b.endpoint())?;
/// tx.send("hi".into())?;
/// let got = ipcx::select! {
///     recv(a) -> n => format!("a: {n:?}"),
///     recv(b) -> s => format!("b: {}", s?),
///     default(Duration::from_secs(5)) => "nothing".to_string(),
/// };
/// assert_eq!(got, "b: hi");
///
/// // In a loop, with a stop: label the loop to leave it from an arm.
/// let stop = ipcx::Stop::new()?;
/// stop.stop();
/// let mut seen = 0;
/// 'serve: loop {
///     ipcx::select! {
///         recv(a) -> _n => seen += 1,
///         stop(stop) => break 'serve,
///     }
/// }
/// assert_eq!(seen, 0);
/// # drop((tx, a, b)); std::fs::remove_dir(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Arms:
/// * `recv(rx) -> res => body`: `res` is a `Result<T, RecvError>`
///   (`Disconnected` once every sender is gone: remove nothing, the arm
///   will keep being ready, so end the loop or stop selecting it).
/// * `send(tx, value) -> res => body`: `res` is a `Result<(), SendError<T>>`
///   (the value is given back on failure).
/// * `stop(stop) => body`: the [`Stop`](crate::Stop) was triggered.
/// * `default => body`: none is ready now; `default(timeout) => body`:
///   none became ready within `timeout`. Without one, it waits forever.
///
/// Bodies are expressions (a block needs no comma after it). A `break` or
/// `continue` without a label inside a body applies to the macro's own
/// loop: label your loops. Typed channels only: a `Receiver<Bytes>` is
/// selected with [`Select`](crate::Select) and `try_recv_bytes`.
#[macro_export]
macro_rules! select {
    ($($arms:tt)+) => {
        $crate::__ipcx_select!(@parse [] [] $($arms)+)
    };
}

/// The parsing and expansion behind [`select!`]; not an API.
#[doc(hidden)]
#[macro_export]
macro_rules! __ipcx_select {
    // ---- parse the arms into (kind ...) groups, and the default ----
    (@parse [$($arms:tt)*] [$($def:tt)*] recv($rx:expr) -> $res:pat => $body:block $(,)? $($rest:tt)*) => {
        $crate::__ipcx_select!(@parse [$($arms)* (recv ($rx) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] recv($rx:expr) -> $res:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__ipcx_select!(@parse [$($arms)* (recv ($rx) ($res) ($body))] [$($def)*] $($($rest)*)?)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] send($tx:expr, $val:expr) -> $res:pat => $body:block $(,)? $($rest:tt)*) => {
        $crate::__ipcx_select!(@parse [$($arms)* (send ($tx) ($val) ($res) ($body))] [$($def)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] send($tx:expr, $val:expr) -> $res:pat => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__ipcx_select!(@parse [$($arms)* (send ($tx) ($val) ($res) ($body))] [$($def)*] $($($rest)*)?)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] stop($stop:expr) => $body:block $(,)? $($rest:tt)*) => {
        $crate::__ipcx_select!(@parse [$($arms)* (stop ($stop) ($body))] [$($def)*] $($rest)*)
    };
    (@parse [$($arms:tt)*] [$($def:tt)*] stop($stop:expr) => $body:expr $(, $($rest:tt)*)?) => {
        $crate::__ipcx_select!(@parse [$($arms)* (stop ($stop) ($body))] [$($def)*] $($($rest)*)?)
    };
    (@parse [$($arms:tt)*] [] default($timeout:expr) => $body:expr $(,)?) => {
        $crate::__ipcx_select!(@parse [$($arms)*] [(Some($timeout)) ($body)])
    };
    (@parse [$($arms:tt)*] [] default => $body:expr $(,)?) => {
        $crate::__ipcx_select!(@parse [$($arms)*] [(Some(::std::time::Duration::ZERO)) ($body)])
    };
    (@parse [$($arms:tt)+] [$($def:tt)*]) => {{
        let mut __ipcx_sel = $crate::Select::new();
        $crate::__ipcx_select!(@emit __ipcx_sel __ipcx_ready 'ipcx_select [$($def)*] [] $($arms)+)
    }};

    // ---- emit: one step per arm, so each arm's variables are its own ----
    (@emit $sel:ident $ready:ident $l:lifetime [$($def:tt)*] [$($disp:tt)*] (recv ($rx:expr) ($res:pat) ($body:expr)) $($rest:tt)*) => {{
        let __rx = &$rx;
        let __i = $sel.recv(__rx);
        $crate::__ipcx_select!(@emit $sel $ready $l [$($def)*] [$($disp)*
            if $ready == __i {
                match __rx.try_recv() {
                    ::std::result::Result::Err($crate::TryRecvError::Empty) => continue $l,
                    __r => {
                        let $res = $crate::__select_recv_result(__r);
                        break $l $body;
                    }
                }
            }
        ] $($rest)*)
    }};
    (@emit $sel:ident $ready:ident $l:lifetime [$($def:tt)*] [$($disp:tt)*] (send ($tx:expr) ($val:expr) ($res:pat) ($body:expr)) $($rest:tt)*) => {{
        let __tx = &$tx;
        let mut __v = ::std::option::Option::Some($val);
        let __i = $sel.send(__tx);
        $crate::__ipcx_select!(@emit $sel $ready $l [$($def)*] [$($disp)*
            if $ready == __i {
                let __m = __v.take().expect("a send arm completes once");
                match __tx.try_send(__m) {
                    ::std::result::Result::Err($crate::TrySendError::Full(__back)) => {
                        __v = ::std::option::Option::Some(__back);
                        continue $l;
                    }
                    __r => {
                        let $res = $crate::__select_send_result(__r);
                        break $l $body;
                    }
                }
            }
        ] $($rest)*)
    }};
    (@emit $sel:ident $ready:ident $l:lifetime [$($def:tt)*] [$($disp:tt)*] (stop ($stop:expr) ($body:expr)) $($rest:tt)*) => {{
        let __i = $sel.stop(&$stop);
        $crate::__ipcx_select!(@emit $sel $ready $l [$($def)*] [$($disp)*
            if $ready == __i {
                break $l $body;
            }
        ] $($rest)*)
    }};
    (@emit $sel:ident $ready:ident $l:lifetime [] [$($disp:tt)*]) => {{
        // A body that diverges (panics, returns) leaves the loop's end
        // unreachable: that is the body's business.
        #[allow(unreachable_code)]
        let __out = $l: loop {
            let $ready = $sel.ready();
            $($disp)*
        };
        __out
    }};
    (@emit $sel:ident $ready:ident $l:lifetime [($timeout:expr) ($default:expr)] [$($disp:tt)*]) => {{
        let __deadline = $timeout.map(|t: ::std::time::Duration| ::std::time::Instant::now() + t);
        #[allow(unreachable_code)]
        let __out = $l: loop {
            let $ready = match $sel.ready_deadline(__deadline.expect("a default arm has a timeout")) {
                ::std::result::Result::Ok(i) => i,
                ::std::result::Result::Err(_) => break $l $default,
            };
            $($disp)*
        };
        __out
    }};
}

/// A `try_recv` result as a `recv` arm sees it (not an API).
#[doc(hidden)]
pub fn __select_recv_result<T>(r: Result<T, crate::TryRecvError>) -> Result<T, crate::RecvError> {
    r.map_err(|e| match e {
        crate::TryRecvError::Failed(e) => crate::RecvError::Failed(e),
        crate::TryRecvError::Empty | crate::TryRecvError::Disconnected => {
            crate::RecvError::Disconnected
        }
    })
}

/// A `try_send` result as a `send` arm sees it (not an API).
#[doc(hidden)]
pub fn __select_send_result<T>(
    r: Result<(), crate::TrySendError<T>>,
) -> Result<(), crate::SendError<T>> {
    r.map_err(|e| match e {
        crate::TrySendError::Failed(v, e) => crate::SendError::Failed(v, e),
        crate::TrySendError::Full(v) | crate::TrySendError::Disconnected(v) => {
            crate::SendError::Disconnected(v)
        }
    })
}
