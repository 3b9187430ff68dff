#pragma once
// The request pipelines of the two listeners (SPEC §2 "Request handling order").

#include <memory>

#include "clawgate/proxy/services.hpp"
#include "clawgate/server/listener.hpp"

namespace clawgate::proxy {

std::shared_ptr<server::RequestHandler> make_proxy_handler(std::shared_ptr<Services> svc);
std::shared_ptr<server::RequestHandler> make_admin_handler(std::shared_ptr<Services> svc);

}  // namespace clawgate::proxy
