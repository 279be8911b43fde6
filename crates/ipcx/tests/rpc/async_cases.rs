//! The async API (`ipcx::tokio::rpc`, feature `tokio`): its server under
//! the cases that take any server (blocking client processes call it), and
//! its client against blocking servers, on every transport.

use super::*;

/// The cases whose server is `serve_here`'s: run again with the async one.
const SERVER_CASES: &[(&str, Case)] = &[
    ("many_clients", many_clients),
    ("handler_errors_and_panics", handler_errors_and_panics),
    ("deadlines", deadlines),
    ("garbage_and_other_types", garbage_and_other_types),
    ("stop_finishes_what_it_took", stop_finishes_what_it_took),
    ("silent_peers_hold_up_nobody", silent_peers_hold_up_nobody),
    ("backpressure", async_backpressure),
    ("flood_waits_in_the_kernel", flood_waits_in_the_kernel),
    ("out_of_fds_backs_off", out_of_fds_backs_off),
];

/// The async client against a blocking server.
const CLIENT_CASES: &[(&str, Case)] = &[
    ("many_tasks", client_many_tasks),
    ("errors_deadlines_cancel", client_errors_deadlines_cancel),
    ("server_killed", client_server_killed),
];

pub(crate) fn trials() -> Vec<Trial> {
    let mut trials = Vec::new();
    for t in TRANSPORTS {
        let on_async = Transport {
            asynchronous: true,
            ..*t
        };
        for &(name, case) in SERVER_CASES {
            trials.push(Trial::test(
                format!("async-server::{}::{name}", t.name),
                move || {
                    case(&on_async);
                    Ok(())
                },
            ));
        }
        let t = *t;
        for &(name, case) in CLIENT_CASES {
            trials.push(Trial::test(
                format!("async-client::{}::{name}", t.name),
                move || {
                    case(&t);
                    Ok(())
                },
            ));
        }
    }
    trials
}

pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// `handler`, async: the slow calls sleep in tokio's timer.
async fn async_handler(n: u64) -> Result<u64, String> {
    match n {
        7 => Err("seven is not allowed".into()),
        13 => panic!("thirteen"),
        1000..2000 => {
            tokio::time::sleep(Duration::from_millis(n - 1000)).await;
            Ok(n * 2)
        }
        _ => Ok(n * 2),
    }
}

/// An async server on a runtime of its own thread, until the stop.
pub(crate) fn serve_async(
    ep: String,
    opts: &OpenOptions,
    workers: usize,
) -> (String, std::thread::JoinHandle<()>) {
    let server = ipcx::tokio::rpc::Server::<u64, u64>::bind_with(ep, opts)
        .expect("bind")
        .workers(workers);
    let ep = server.endpoint().to_string();
    let serving = std::thread::spawn(move || {
        runtime()
            .block_on(server.serve(async_handler))
            .expect("serve")
    });
    (ep, serving)
}

/// One place, a handler of 20 ms, 40 calls at once from blocking threads:
/// all answered, never two at a time.
fn async_backpressure(t: &Transport) {
    let s = Scratch::new(t.name);
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let stop = Stop::new().expect("stop");
    let opts = OpenOptions::new().stop(&stop).clone();
    let server = ipcx::tokio::rpc::Server::<u64, u64>::bind_with((t.endpoint)(&s), &opts)
        .expect("bind")
        .workers(1);
    let ep = server.endpoint().to_string();
    let serving = {
        let (running, most) = (Arc::clone(&running), Arc::clone(&most));
        std::thread::spawn(move || {
            let handler = move |n: u64| {
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                async move {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    running.fetch_sub(1, Ordering::SeqCst);
                    Ok(n + 1)
                }
            };
            runtime().block_on(server.serve(handler)).expect("serve")
        })
    };
    forty_calls_at_once(&ep);
    assert_eq!(
        most.load(Ordering::SeqCst),
        1,
        "one place: one call at a time"
    );
    stop.stop();
    serving.join().expect("server");
}

/// 200 calls at once from 200 tasks on one async client, each answered
/// with its own reply.
fn client_many_tasks(t: &Transport) {
    let s = Scratch::new(t.name);
    let (ep, stop, serving) = serve_here(t, &s, 4, 64);
    runtime().block_on(async {
        let client = Arc::new(
            ipcx::tokio::rpc::Client::<u64, u64>::connect_timeout(&ep, PATIENCE)
                .await
                .expect("connect"),
        );
        let mut calls = tokio::task::JoinSet::new();
        for n in 100..300u64 {
            let client = Arc::clone(&client);
            calls.spawn(async move { (n, client.call_timeout(&n, PATIENCE).await) });
        }
        while let Some(done) = calls.join_next().await {
            let (n, got) = done.expect("task");
            assert_eq!(got.expect("call"), n * 2);
        }
    });
    stop.stop();
    serving.join().expect("server");
}

/// Remote errors and panics; a deadline that passes (its late reply
/// dropped); a call dropped by a `select!` that went the other way; then
/// the next call gets its own reply.
fn client_errors_deadlines_cancel(t: &Transport) {
    let s = Scratch::new(t.name);
    let (ep, stop, serving) = serve_here(t, &s, 2, 8);
    runtime().block_on(async {
        let client = ipcx::tokio::rpc::Client::<u64, u64>::connect_timeout(&ep, PATIENCE)
            .await
            .expect("connect");
        assert!(
            matches!(client.call(&7).await, Err(CallError::Remote(e)) if e == "seven is not allowed")
        );
        assert!(
            matches!(client.call(&13).await, Err(CallError::Remote(e)) if e.contains("panicked: thirteen"))
        );
        let started = Instant::now();
        assert!(matches!(
            client.call_timeout(&1300, Duration::from_millis(50)).await,
            Err(CallError::TimedOut)
        ));
        assert!(started.elapsed() < Duration::from_millis(250), "the deadline held");
        tokio::select! {
            _ = client.call(&1200) => panic!("a 200 ms call beat a 20 ms timer"),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        // Both slow replies come while this one waits; neither is taken for it.
        assert_eq!(client.call_timeout(&1400, PATIENCE).await.expect("call"), 2800);
        assert_eq!(client.call(&3).await.expect("call"), 6);
    });
    stop.stop();
    serving.join().expect("server");
}

/// The server process is killed mid-call: the call fails with
/// `Disconnected` within 5 s, and so does the next.
fn client_server_killed(t: &Transport) {
    let s = Scratch::new(t.name);
    let mut server = Peer::spawn("slow-server", &(t.endpoint)(&s), &[]);
    let ep = server.expect("READY");
    let rt = runtime();
    let client = rt.block_on(async {
        ipcx::tokio::rpc::Client::<u64, u64>::connect_timeout(&ep, PATIENCE)
            .await
            .expect("connect")
    });
    let client = Arc::new(client);
    let calling = {
        let client = Arc::clone(&client);
        rt.spawn(async move {
            let started = Instant::now();
            (client.call(&5).await, started.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(200));
    server.kill();
    let (got, took) = rt.block_on(calling).expect("caller");
    assert!(matches!(got, Err(CallError::Disconnected)), "{got:?}");
    assert!(took < Duration::from_secs(5), "noticed after {took:?}");
    let next = rt.block_on(client.call(&6));
    assert!(
        matches!(next, Err(CallError::Disconnected | CallError::Failed(_))),
        "{next:?}"
    );
    drop(client);
    drop(rt);
    no_rings_left(&s);
}
