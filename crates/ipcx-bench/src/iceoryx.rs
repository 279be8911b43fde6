//! iceoryx2 (0.10) publish-subscribe over `[u8]` slices, busy-polling
//! like the other two, in two settings: [`Setting::Lossless`] blocks the
//! publisher when the subscriber is full (no overflow), as the other two
//! rings do; [`Setting::OwnBenchmark`] is how iceoryx2's own latency
//! benchmark (benchmarks/publish-subscribe) sets it up: a buffer of one
//! sample, safe overflow on (a full buffer's sample is replaced), history
//! 0. That one may lose messages, so it runs ping-pongs only.

#![allow(unsafe_code)] // iceoryx2's loan API hands out uninitialised memory.

use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::port::update_connections::UpdateConnections;
use iceoryx2::prelude::*;

pub struct Pub {
    _node: Node<ipc::Service>,
    publisher: Publisher<ipc::Service, [u8], ()>,
}

pub struct Sub {
    _node: Node<ipc::Service>,
    subscriber: Subscriber<ipc::Service, [u8], ()>,
}

/// How the service and its publisher are set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    Lossless,
    OwnBenchmark,
}

fn service(
    name: &str,
    size: usize,
    setting: Setting,
) -> (
    Node<ipc::Service>,
    iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, [u8], ()>,
) {
    let node = NodeBuilder::new()
        .create::<ipc::Service>()
        .expect("iceoryx2 node");
    let (depth, overflow) = match setting {
        Setting::Lossless => (
            (crate::peers::capacity_for(size) / size.max(64)).clamp(2, 1024),
            false,
        ),
        Setting::OwnBenchmark => (1, true),
    };
    let service = node
        .service_builder(&name.try_into().expect("service name"))
        .publish_subscribe::<[u8]>()
        .max_publishers(1)
        .max_subscribers(1)
        .history_size(0)
        .subscriber_max_buffer_size(depth)
        .enable_safe_overflow(overflow)
        .open_or_create()
        .expect("iceoryx2 service");
    (node, service)
}

impl Pub {
    pub fn open(name: &str, size: usize, setting: Setting) -> Pub {
        let (node, service) = service(name, size, setting);
        let strategy = match setting {
            Setting::Lossless => BackpressureStrategy::RetryUntilDelivered,
            Setting::OwnBenchmark => BackpressureStrategy::DiscardData,
        };
        let publisher = service
            .publisher_builder()
            .initial_max_slice_len(size.max(1))
            .backpressure_strategy(strategy)
            .create()
            .expect("iceoryx2 publisher");
        // The subscriber may not be connected yet: wait until it is.
        while service.dynamic_config().number_of_subscribers() == 0 {
            std::thread::yield_now();
        }
        let _ = publisher.update_connections();
        Pub {
            _node: node,
            publisher,
        }
    }

    pub fn send(&mut self, msg: &[u8]) {
        let sample = self.publisher.loan_slice_uninit(msg.len()).expect("loan");
        let sample = sample.write_from_slice(msg);
        sample.send().expect("send");
    }

    pub fn send_loan(&mut self, len: usize, byte: u8) {
        let mut sample = self.publisher.loan_slice_uninit(len).expect("loan");
        for b in sample.payload_mut() {
            b.write(byte);
        }
        // SAFETY: every element was written just above.
        let sample = unsafe { sample.assume_init() };
        sample.send().expect("send");
    }
}

impl Sub {
    pub fn open(name: &str, size: usize, setting: Setting) -> Sub {
        let (node, service) = service(name, size, setting);
        let subscriber = service
            .subscriber_builder()
            .create()
            .expect("iceoryx2 subscriber");
        Sub {
            _node: node,
            subscriber,
        }
    }

    pub fn recv(&mut self, f: &mut dyn FnMut(&[u8])) {
        loop {
            if let Some(sample) = self.subscriber.receive().expect("receive") {
                f(sample.payload());
                return;
            }
            std::hint::spin_loop();
        }
    }
}
